// editor.js - the Lua code editor of the Handlers page: CodeMirror 6 from npm (bundled by
// scripts/build-frontend, no CDN) with the Lua mode of @codemirror/legacy-modes and the lint
// gutter, so a syntax or runtime error is marked at its line.

import { EditorView, basicSetup } from 'codemirror';
import { StreamLanguage } from '@codemirror/language';
import { lua } from '@codemirror/legacy-modes/mode/lua';
import { setDiagnostics, lintGutter } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';

/**
 * Mounts an editor in parent. onChange() runs on every edit.
 * @returns {{view: EditorView, value: string, showError(line: number, message: string): void,
 *            clearErrors(): void, focus(): void}}
 */
export function createEditor(parent, doc = '', onChange = () => {}) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        StreamLanguage.define(lua),
        lintGutter(),
        EditorView.contentAttributes.of({ 'aria-label': 'Lua source of the handler' }),
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
