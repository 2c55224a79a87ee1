import { interopMatrix } from './matrix.ts';

interopMatrix('gobgp');
