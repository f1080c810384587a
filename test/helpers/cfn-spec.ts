// A CloudFormation template checked against AWS's resource specification, as the CDK team maintains it
// (@aws-cdk/aws-service-spec, from the npm registry): every resource type exists, every property is
// known and has the right shape, required properties are present, every !GetAtt names an attribute
// the type has, every ${…} in a !Sub resolves. Intrinsic functions stand for any value.
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';

type Obj = Record<string, unknown>;
type SpecDb = ReturnType<typeof loadAwsServiceSpecSync>;
interface SpecProperty {
  type: SpecType;
  required?: boolean;
}
type SpecType =
  | { type: 'string' | 'integer' | 'number' | 'boolean' | 'json' | 'tag' | 'date-time' | 'null' }
  | { type: 'array' | 'map'; element: SpecType }
  | { type: 'ref'; reference: { $ref: string } }
  | { type: 'union'; types: SpecType[] };

let db: SpecDb | undefined;
const spec = () => (db ??= loadAwsServiceSpecSync());

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
/** `{ "Ref": … }` or `{ "Fn::…": … }`: resolved by CloudFormation, any shape here. */
const isIntrinsic = (v: unknown) => isObj(v) && Object.keys(v).length === 1 && (Object.keys(v)[0] === 'Ref' || Object.keys(v)[0]!.startsWith('Fn::'));

function resourceSpec(type: string): { properties: Record<string, SpecProperty>; attributes: Record<string, unknown> } | undefined {
  const found = spec().lookup('resource', 'cloudFormationType', 'equals', type);
  return found.length === 1 ? (found[0] as unknown as { properties: Record<string, SpecProperty>; attributes: Record<string, unknown> }) : undefined;
}

/** Errors in `value` against `type`, at `where`. */
function checkValue(value: unknown, type: SpecType, where: string, errors: string[]): void {
  if (isIntrinsic(value)) return;
  switch (type.type) {
    case 'string':
    case 'date-time':
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') errors.push(`${where}: a string, not ${JSON.stringify(value)}`);
      return;
    case 'integer':
    case 'number':
      // CloudFormation takes numbers written as strings.
      if (!(typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))))) errors.push(`${where}: a number, not ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (!(typeof value === 'boolean' || value === 'true' || value === 'false')) errors.push(`${where}: a boolean, not ${JSON.stringify(value)}`);
      return;
    case 'json':
    case 'null':
      return;
    case 'tag':
      if (!isObj(value) || !('Key' in value) || !('Value' in value)) errors.push(`${where}: a tag {Key, Value}`);
      return;
    case 'array':
      if (!Array.isArray(value)) {
        errors.push(`${where}: a list, not ${JSON.stringify(value)}`);
        return;
      }
      value.forEach((v, i) => checkValue(v, type.element, `${where}[${i}]`, errors));
      return;
    case 'map':
      if (!isObj(value)) {
        errors.push(`${where}: a map`);
        return;
      }
      for (const [k, v] of Object.entries(value)) checkValue(v, type.element, `${where}.${k}`, errors);
      return;
    case 'union': {
      const attempts = type.types.map((t) => {
        const e: string[] = [];
        checkValue(value, t, where, e);
        return e;
      });
      if (!attempts.some((e) => e.length === 0)) errors.push(...attempts[0]!);
      return;
    }
    case 'ref': {
      const def = spec().get('typeDefinition', type.reference.$ref) as unknown as { name: string; properties: Record<string, SpecProperty> };
      checkProperties(value, def.properties, where, errors);
      return;
    }
  }
}

/** An object of named properties: each known, each of its type, the required ones present. */
function checkProperties(value: unknown, properties: Record<string, SpecProperty>, where: string, errors: string[]): void {
  if (!isObj(value)) {
    errors.push(`${where}: an object of properties, not ${JSON.stringify(value)}`);
    return;
  }
  for (const [name, v] of Object.entries(value)) {
    const p = properties[name];
    if (p === undefined) errors.push(`${where}.${name}: no such property`);
    else checkValue(v, p.type, `${where}.${name}`, errors);
  }
  for (const [name, p] of Object.entries(properties)) if (p.required && !(name in value)) errors.push(`${where}.${name}: required, missing`);
}

/** Every ${Name} and ${Resource.Attribute} in a !Sub string, outside ${!literal}. */
function subReferences(text: string): string[] {
  return [...text.matchAll(/\$\{([^!}][^}]*)\}/g)].map((m) => m[1]!.trim());
}

/** Every way `template` disagrees with the specification (an empty list when it does not). */
export function checkTemplateAgainstSpec(template: Obj): string[] {
  const errors: string[] = [];
  const resources = (template.Resources ?? {}) as Record<string, Obj>;
  const parameters = new Set(Object.keys((template.Parameters ?? {}) as Obj));
  const specs = new Map<string, NonNullable<ReturnType<typeof resourceSpec>>>();
  for (const [name, r] of Object.entries(resources)) {
    const type = String(r.Type);
    if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') continue; // a Lambda-backed resource: properties are its own
    const s = resourceSpec(type);
    if (s === undefined) {
      errors.push(`${name}: no resource type ${type}`);
      continue;
    }
    specs.set(name, s);
    checkProperties(r.Properties ?? {}, s.properties, `${name}.Properties`, errors);
  }
  const attributeOk = (resource: string, attribute: string) => {
    if (!(resource in resources)) return `no resource ${resource}`;
    const s = specs.get(resource);
    return s === undefined || attribute in s.attributes ? undefined : `${resources[resource]!.Type} has no attribute ${attribute}`;
  };
  const visit = (node: unknown, where: string, subVariables: Set<string>) => {
    if (Array.isArray(node)) return node.forEach((x, i) => visit(x, `${where}[${i}]`, subVariables));
    if (!isObj(node)) return;
    const getAtt = node['Fn::GetAtt'];
    if (Array.isArray(getAtt)) {
      const problem = attributeOk(String(getAtt[0]), getAtt.slice(1).join('.'));
      if (problem) errors.push(`${where}: !GetAtt ${getAtt.join('.')}: ${problem}`);
    }
    const sub = node['Fn::Sub'];
    if (sub !== undefined) {
      const [text, vars] = Array.isArray(sub) ? [sub[0], sub[1]] : [sub, undefined];
      const local = new Set([...subVariables, ...Object.keys(isObj(vars) ? vars : {})]);
      if (typeof text === 'string') {
        for (const ref of subReferences(text)) {
          const [head, ...rest] = ref.split('.');
          if (rest.length === 0) {
            if (!(head!.startsWith('AWS::') || parameters.has(head!) || head! in resources || local.has(head!))) errors.push(`${where}: !Sub \${${ref}} resolves to nothing`);
          } else {
            const problem = attributeOk(head!, rest.join('.'));
            if (problem) errors.push(`${where}: !Sub \${${ref}}: ${problem}`);
          }
        }
      }
      if (isObj(vars)) visit(vars, `${where}.Fn::Sub`, subVariables);
      return;
    }
    for (const [k, v] of Object.entries(node)) visit(v, `${where}.${k}`, subVariables);
  };
  visit(template.Resources, 'Resources', new Set());
  visit(template.Outputs, 'Outputs', new Set());
  return errors;
}
