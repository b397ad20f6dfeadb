// Small DOM helpers. Text always goes in as textContent: message bodies and ids are untrusted.

export function $(selector, root = document) {
  const element = root.querySelector(selector);
  if (element === null) {
    throw new Error(`missing element ${selector}`);
  }
  return element;
}

/** Creates an element: `h('td', { className: 'x' }, 'text', child)`. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (key.startsWith('aria-') || key === 'role' || key === 'for') {
      element.setAttribute(key, String(value));
    } else {
      element[key] = value;
    }
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

export function formatTime(iso) {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  // Short in the table (the full time is the cell's title).
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

/** Clears the inline errors of a form. */
export function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error, .form-error')) {
    p.textContent = '';
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
  }
  for (const field of form.querySelectorAll('.field.invalid')) {
    field.classList.remove('invalid');
  }
}

/**
 * Puts problem+json `errors` ({field: "/a/b", message}) next to the matching
 * `[data-field]` of the form (the closest ancestor path that has one: "/types/0"
 * lands on "/types"); what matches no field goes to the form-level message.
 * Focuses the first invalid control. `aliases` maps API field names to form ones.
 */
/**
 * The API names fields as in JSON (`maxMessageBytes must not be greater than 131072`); under a human
 * label the message says the label instead ("Largest client message (bytes) must not be…").
 */
function inWords(form, field, message) {
  const name = field.slice(field.lastIndexOf('/') + 1);
  if (name === '' || !message.startsWith(`${name} `)) {
    return message;
  }
  const control = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
  const label = control?.querySelector('label, legend')?.textContent?.trim();
  if (!label) {
    return message;
  }
  return `${label.charAt(0).toUpperCase()}${label.slice(1)}${message.slice(name.length)}`;
}

export function showErrors(form, error, aliases = {}) {
  clearErrors(form);
  const formLevel = [];
  let first;
  for (const { field = '', message } of error.errors ?? []) {
    let path = aliases[field] ?? field;
    let container = null;
    while (path && path !== '/') {
      container = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (container !== null) {
        break;
      }
      path = path.slice(0, path.lastIndexOf('/'));
    }
    // A nested field's message goes to its group's error line (e.g. the rate limit fieldset).
    const target =
      container?.querySelector(':scope > .field-error') ?? container?.closest('fieldset.field')?.querySelector(':scope > .field-error');
    if (!container || !target) {
      formLevel.push(field ? `${field}: ${message}` : message);
      continue;
    }
    const said = inWords(form, aliases[field] ?? field, message);
    target.textContent = target.textContent ? `${target.textContent}; ${said}` : said;
    container.classList.add('invalid');
    for (const control of container.querySelectorAll('input, select, textarea')) {
      control.setAttribute('aria-invalid', 'true');
      first ??= control;
    }
  }
  const summary = form.querySelector('.form-error');
  if (summary) {
    const lines = formLevel.length > 0 ? formLevel : [];
    summary.textContent = [error.message, ...lines].filter(Boolean).join(' ');
    if (error.code) {
      summary.textContent += ` (${error.code})`;
    }
  }
  (first ?? summary)?.focus?.();
}
