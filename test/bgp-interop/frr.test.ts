import { interopMatrix } from './matrix.ts';

interopMatrix('frr');
