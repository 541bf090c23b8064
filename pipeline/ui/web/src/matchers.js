// Alertmanager label matchers in the browser. The API is the parser of record (pipeline/matchers.py):
// a filter is sent as one `filter` query value per matcher and the API answers 400 with its message
// for a bad one. What happens here is only what the UI needs before asking: split a typed list into
// single matchers exactly as labels.ParseMatchers does, read a matcher's name, operator and value to
// fill the silence editor, and write matchers back as text.

export const OPERATORS = ['=', '!=', '=~', '!~'];

// Label names a silence may use (silence.go ValidateMatcher); filters also allow ':' (parse.go).
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const GO_SPACE = '[\\t\\n\\f\\r ]';
const MATCHER = new RegExp(
  `^${GO_SPACE}*([a-zA-Z_:][a-zA-Z0-9_:]*)${GO_SPACE}*(=~|=|!=|!~)${GO_SPACE}*([\\s\\S]*?)${GO_SPACE}*$`,
);

/** labels.ParseMatchers' tokenizer: an optional leading `{` and trailing `}`, commas inside double
 * quotes do not split, a trailing comma is ignored. The text is trimmed first (a UI nicety). */
export function splitMatchers(input) {
  let text = input.trim();
  if (text.startsWith('{')) text = text.slice(1);
  if (text.endsWith('}')) text = text.slice(0, -1);
  const tokens = [];
  let token = '';
  let insideQuotes = false;
  let escaped = false;
  for (const char of text) {
    if (char === ',') {
      if (!insideQuotes) {
        tokens.push(token);
        token = '';
        continue;
      }
    } else if (char === '"') {
      if (!escaped) insideQuotes = !insideQuotes;
      else escaped = false;
    } else if (char === '\\') {
      escaped = !escaped;
    } else {
      escaped = false;
    }
    token += char;
  }
  const last = token.trim();
  if (last) tokens.push(last);
  return tokens;
}

/** labels.ParseMatcher: {name, op, value}, or throws an Error with the API's message. */
export function parseMatcher(text) {
  const found = MATCHER.exec(text);
  if (!found) throw new Error(`bad matcher format: ${text}`);
  const [, name, op] = found;
  const quotedRaw = found[3];
  let raw = quotedRaw;
  let expectTrailingQuote = false;
  if (raw.startsWith('"')) {
    raw = raw.slice(1);
    expectTrailingQuote = true;
  }
  const chars = Array.from(raw);
  const last = chars.length - 1;
  let value = '';
  let escaped = false;
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i];
    if (escaped) {
      escaped = false;
      if (char === 'n') value += '\n';
      else if (char === '"' || char === '\\') value += char;
      else value += '\\' + char; // a spurious escape: the backslash is literal
      continue;
    }
    if (char === '\\') {
      if (i < last) {
        escaped = true;
        continue;
      }
      value += '\\';
    } else if (char === '"') {
      if (!expectTrailingQuote || i < last) {
        throw new Error(`matcher value contains unescaped double quote: ${quotedRaw}`);
      }
      expectTrailingQuote = false;
    } else {
      value += char;
    }
  }
  if (expectTrailingQuote) throw new Error(`matcher value contains unescaped double quote: ${quotedRaw}`);
  return { name, op, value };
}

/** A value quoted so that parseMatcher (and the API) reads it back unchanged. */
export function quoteValue(value) {
  return '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

export function formatMatcher({ name, op, value }) {
  return `${name}${op}${quoteValue(value)}`;
}

export function formatMatchers(matchers) {
  return matchers.map(formatMatcher).join(', ');
}

/** The operator of an API matcher ({isRegex, isEqual}; isEqual defaults to true). */
export function opOf(matcher) {
  const equal = matcher.isEqual !== false;
  if (matcher.isRegex) return equal ? '=~' : '!~';
  return equal ? '=' : '!=';
}

export function fromApi(matcher) {
  return { name: matcher.name, op: opOf(matcher), value: matcher.value };
}

export function toApi({ name, op, value }) {
  return { name, value, isRegex: op === '=~' || op === '!~', isEqual: op === '=' || op === '=~' };
}

/** Equality matchers for a label set, sorted by name (Alertmanager's "silence this alert"). */
export function labelMatchers(labels) {
  return Object.keys(labels).sort().map((name) => ({ name, op: '=', value: labels[name] }));
}

/** A JavaScript approximation of a Go (RE2) pattern anchored as Alertmanager anchors it, or null when
 * JavaScript cannot compile it. Only for hints before the API decides; the two dialects differ at
 * the edges (the API's answer is shown whenever it disagrees). */
export function anchoredRegex(pattern) {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    try {
      return new RegExp(`^(?:${pattern})$`);
    } catch {
      return null;
    }
  }
}

/** silence.go matchesEmpty: only `=` and `=~` count. */
export function matchesEmpty({ op, value }) {
  if (op === '=') return value === '';
  if (op === '=~') {
    const regex = anchoredRegex(value);
    return regex !== null && regex.test('');
  }
  return false;
}
