// CloudFormation YAML as CloudFormation reads it: every short-form intrinsic (!Ref, !Sub, …) becomes
// its long form ({"Fn::Sub": …}).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CORE_SCHEMA, Schema, defineMappingTag, defineScalarTag, defineSequenceTag, load } from 'js-yaml';
import { PACKAGE_ROOT } from '../../src/paths.js';

const INTRINSICS = ['Ref', 'Condition', 'GetAtt', 'Base64', 'Cidr', 'FindInMap', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub', 'Transform', 'And', 'Equals', 'If', 'Not', 'Or', 'Length', 'ToJsonString'];
const longForm = (name: string) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`);
export type Obj = Record<string, unknown>;
const CFN_SCHEMA = new Schema([
  ...CORE_SCHEMA.tags,
  ...INTRINSICS.flatMap((name) => [
    defineScalarTag(`!${name}`, { resolve: (s) => ({ [longForm(name)]: name === 'GetAtt' ? s.split('.') : s }), identify: () => false }),
    defineSequenceTag<unknown[], Obj>(`!${name}`, {
      create: () => [],
      addItem: (c, item) => void c.push(item),
      finalize: (c) => ({ [longForm(name)]: c }),
      identify: () => false,
    }),
    defineMappingTag<Obj, Obj>(`!${name}`, {
      create: () => ({}),
      addPair: (c, k, v) => ((c[String(k)] = v), ''),
      has: (c, k) => String(k) in c,
      keys: (r) => Object.keys(r),
      get: (r, k) => r[String(k)],
      finalize: (c) => ({ [longForm(name)]: c }),
      identify: () => false,
    }),
  ]),
]);

/** A stack file of this package (e.g. 'stacks/service.yml'), parsed. */
export function loadTemplate(file: string): Obj {
  return load(readFileSync(path.join(PACKAGE_ROOT, file), 'utf8'), { schema: CFN_SCHEMA }) as Obj;
}
