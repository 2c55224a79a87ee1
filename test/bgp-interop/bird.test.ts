import { interopMatrix } from './matrix.ts';

interopMatrix('bird');
