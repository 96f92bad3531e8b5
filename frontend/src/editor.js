// editor.js - the Lua code editor of the Handlers page: CodeMirror 6 from npm (bundled by
// scripts/build-frontend, no CDN) with the Lua mode of @codemirror/legacy-modes and the lint
// gutter, so a syntax or runtime error is marked at its line.
// The editor lives in a shadow root: CodeMirror then installs its styles as constructed
// stylesheets (adoptedStyleSheets) instead of <style> elements, which the page's
// Content-Security-Policy (style-src 'self', no 'unsafe-inline') would block. The page's CSS
// variables still reach it (custom properties inherit into shadow trees).

import { EditorView, basicSetup } from 'codemirror';
import { StreamLanguage } from '@codemirror/language';
import { lua } from '@codemirror/legacy-modes/mode/lua';
import { setDiagnostics, lintGutter } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';

const THEME = EditorView.theme({
  '&': { color: 'var(--text)', backgroundColor: 'var(--panel)', fontSize: '.9rem', maxHeight: '60vh', minHeight: '240px' },
  '&.cm-focused': { outline: '2px solid var(--focus)' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' },
  '.cm-gutters': { backgroundColor: 'var(--bg)', color: 'var(--muted)', borderRight: '1px solid var(--line)' },
  '.cm-activeLine, .cm-activeLineGutter': { backgroundColor: 'var(--accent-soft)' },
  '.cm-content': { caretColor: 'var(--text)' },
});

/**
 * Mounts an editor in parent (which gets a shadow root). onChange() runs on every edit.
 * @returns {{view: EditorView, value: string, showError(line: number, message: string): void,
 *            clearErrors(): void, focus(): void}}
 */
export function createEditor(parent, doc = '', onChange = () => {}) {
  const shadow = parent.attachShadow({ mode: 'open' });
  const mount = document.createElement('div');
  shadow.append(mount);
  const view = new EditorView({
    parent: mount,
    root: shadow,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        StreamLanguage.define(lua),
        lintGutter(),
        EditorView.contentAttributes.of({ 'aria-label': 'Lua source of the handler' }),
        THEME,
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange(); }),
      ],
    }),
  });
  return {
    view,
    get value() { return view.state.doc.toString(); },
    set value(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    /** Marks line (1-based; clamped to the document) with an error diagnostic. */
    showError(line, message) {
      const doc = view.state.doc;
      const l = doc.line(Math.min(Math.max(1, line || 1), doc.lines));
      view.dispatch(setDiagnostics(view.state, [{ from: l.from, to: Math.max(l.to, l.from), severity: 'error', message }]));
    },
    clearErrors() { view.dispatch(setDiagnostics(view.state, [])); },
    focus() { view.focus(); },
  };
}
