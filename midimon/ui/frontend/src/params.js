// A param's value against its schema entry (as `midimon validate` judges it): '' when fine,
// else what would be accepted. The page checks as the user types; the daemon checks on save.
export function paramProblem(spec, value) {
  if (value === undefined) return spec.required ? `required: ${spec.expected}` : '';
  const kind = spec.type;
  const typed =
    (kind === 'string' && typeof value === 'string') ||
    (kind === 'integer' && Number.isInteger(value)) ||
    (kind === 'number' && typeof value === 'number' && Number.isFinite(value)) ||
    (kind === 'boolean' && typeof value === 'boolean') ||
    (kind === 'array' && Array.isArray(value));
  if (!typed) return `must be ${spec.expected}`;
  if (spec.enum && !spec.enum.includes(value)) return `must be ${spec.expected}`;
  if (spec.min !== undefined && value < spec.min) return `must be ${spec.expected}`;
  if (spec.max !== undefined && value > spec.max) return `must be ${spec.expected}`;
  return '';
}

// Every problem of a Plugin action's params: [[name, message], ...].
export function paramProblems(schema, params) {
  if (!schema) return [];
  return schema.params
    .map((spec) => [spec.name, paramProblem(spec, params?.[spec.name])])
    .filter(([, message]) => message);
}
