// Action tables against the daemon's action schema (ACTION_SCHEMA): a new table of a type,
// each field's problem as the user types, every problem of a nested action (for Save), and a
// one-line summary. Families: action, condition, midi_message; each type lists its fields.
import { paramProblems } from './params.js';

// A new table of `type`: its required fields with a first value (the minimum, the first
// choice, a nested table); the optional ones stay unset (their defaults show as placeholders).
export function newNode(schema, family, type, ctx) {
  // The two types whose tables need one field of a pair get the first of it.
  const pick = family === 'action' && { Conditional: 'condition', Shell: 'argv' }[type];
  const table = { type };
  for (const field of schema[family]?.[type] || []) {
    if (field.name === pick && type === 'Shell') table.argv = ['true'];
    else if (field.required || field.name === pick) table[field.name] = firstValue(schema, field, ctx);
  }
  return table;
}

export function defaultType(family, ctx) {
  if (family === 'action') return ctx.plugins.length ? 'Plugin' : 'Delay';
  return family === 'condition' ? 'Mode' : 'note_on';
}

function firstValue(schema, field, ctx) {
  switch (field.kind) {
    case 'integer': return field.default ?? field.min;
    case 'boolean': return field.default ?? false;
    case 'enum': return field.choices[0];
    case 'set': return [];
    case 'strings': return [];
    case 'mode': return ctx.modes[0] ?? '';
    case 'plugin': return ctx.plugins[0]?.name ?? '';
    case 'params': return {};
    case 'node': return newNode(schema, field.family, defaultType(field.family, ctx), ctx);
    case 'nodes': return [newNode(schema, field.family, defaultType(field.family, ctx), ctx)];
    default: return field.example ?? '';
  }
}

// What is wrong with one field's value ('' when fine), by the schema's kind and range.
export function fieldProblem(field, value, ctx) {
  if (value === undefined || value === '' || (Array.isArray(value) && !value.length && field.kind !== 'set')) {
    return field.required ? 'is required' : '';
  }
  switch (field.kind) {
    case 'integer':
      return Number.isInteger(value) && value >= field.min && value <= field.max ? '' : `must be an integer in ${field.min}..${field.max}`;
    case 'string':
      if (typeof value !== 'string') return 'must be text';
      return field.pattern && !new RegExp(`^(?:${field.pattern})$`).test(value) ? `must look like ${field.example ?? field.pattern}` : '';
    case 'strings':
      if (typeof value === 'string') return ''; // keys = "c" is one key
      return value.every((v) => typeof v === 'string' && v.trim()) ? '' : 'has an empty entry';
    case 'set':
      if (field.required && !value.length) return 'pick at least one';
      return value.every((v) => field.choices.includes(v)) ? '' : `must be among: ${field.choices.join(', ')}`;
    case 'mode':
      return ctx.modes.includes(value) || (field.choices || []).includes(value) || Number.isInteger(value) ? '' : `names no mode (${ctx.modes.join(', ')})`;
    case 'plugin':
      return ctx.plugins.some((p) => p.name === value) ? '' : 'names no discovered plugin';
    default:
      return '';
  }
}

// Every problem of a table and the tables inside it: ["then.actions[1].ms is required", ...].
export function nodeProblems(schema, family, table, ctx, where = '') {
  const fields = schema?.[family]?.[table?.type];
  if (!fields) return schema?.[family] ? [`${where || 'type'} has no known type`] : [];
  const found = [];
  for (const field of fields) {
    const value = table[field.name];
    const at = where ? `${where}.${field.name}` : field.name;
    const problem = fieldProblem(field, value, ctx);
    if (problem) found.push(`${at} ${problem}`);
    else if (field.kind === 'node' && value) found.push(...nodeProblems(schema, field.family, value, ctx, at));
    else if (field.kind === 'nodes' && Array.isArray(value)) {
      value.forEach((v, i) => found.push(...nodeProblems(schema, field.family, v, ctx, `${at}[${i}]`)));
    }
  }
  if (family === 'action' && table.type === 'Plugin') {
    const plugin = ctx.plugins.find((p) => p.name === table.plugin);
    for (const [name, message] of paramProblems(plugin?.info?.params, table.params)) {
      found.push(`${where ? `${where}.` : ''}${table.plugin}.${name} ${message}`);
    }
  }
  return found;
}

// One line for the mappings table: "Sequence [Plugin file_log {…}, Delay ms=100]".
export function summarize(table) {
  if (!table || typeof table !== 'object') return '';
  if (table.type === 'Plugin') return `Plugin ${table.plugin} ${JSON.stringify(table.params || {})}`;
  const parts = Object.entries(table).filter(([k]) => k !== 'type').map(([k, v]) => {
    if (Array.isArray(v) && v.some((x) => x && typeof x === 'object')) return `${k}=[${v.map(summarize).join(', ')}]`;
    if (v && typeof v === 'object' && !Array.isArray(v)) return `${k}=(${summarize(v)})`;
    return `${k}=${Array.isArray(v) ? v.join('+') : v}`;
  });
  return `${table.type} ${parts.join(' ')}`.trim();
}
