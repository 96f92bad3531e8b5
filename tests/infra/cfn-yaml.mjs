// tests/infra/cfn-yaml.mjs - load a CloudFormation/SAM YAML template with the `yaml` package,
// turning the short intrinsic tags (!Ref, !Sub, !GetAtt, !If, ...) into their long JSON forms so
// the checks can walk one plain object. Parse errors throw (with line numbers).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const FNS = ['And', 'Base64', 'Cidr', 'Equals', 'FindInMap', 'GetAZs', 'If', 'ImportValue', 'Join',
  'Not', 'Or', 'Select', 'Split', 'Sub', 'Transform', 'Contains', 'EachMemberEquals',
  'EachMemberIn', 'RefAll', 'ValueOf', 'ValueOfAll', 'Length', 'ToJsonString'];

function tagsFor(name, key) {
  return [
    { tag: `!${name}`, resolve: (v) => ({ [key]: v }) },
    { tag: `!${name}`, collection: 'seq', resolve: (v) => ({ [key]: v.toJSON() }) },
    { tag: `!${name}`, collection: 'map', resolve: (v) => ({ [key]: v.toJSON() }) },
  ];
}

export const customTags = [
  ...tagsFor('Ref', 'Ref'),
  ...tagsFor('Condition', 'Condition'),
  // !GetAtt A.B (scalar) is the same as Fn::GetAtt: [A, B].
  { tag: '!GetAtt', resolve: (v) => { const i = v.indexOf('.'); return { 'Fn::GetAtt': [v.slice(0, i), v.slice(i + 1)] }; } },
  { tag: '!GetAtt', collection: 'seq', resolve: (v) => ({ 'Fn::GetAtt': v.toJSON() }) },
  ...FNS.flatMap((f) => tagsFor(f, `Fn::${f}`)),
];

export function parseCfn(text) {
  return parse(text, { customTags, uniqueKeys: true, prettyErrors: true, maxAliasCount: 0 });
}

export function loadCfn(file) {
  return parseCfn(readFileSync(file, 'utf8'));
}
