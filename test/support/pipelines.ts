/** Pipelines shared by several test files. */

/**
 * `command` targets over src/*.txt: `checked` rejects (as data) any text containing "bad",
 * `upper` upper-cases, `joined` lists what reached it.
 */
export const REJECTING = `version: 1
default: [joined]
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  checked:
    kind: command
    from: texts
    params:
      run: if grep -q bad "$IN"; then echo "found bad word" >&2; exit 3; fi; cp "$IN" "$OUT"
      outputs: { out: .txt }
      onError: reject
  upper:
    kind: command
    from: checked
    params: { run: tr a-z A-Z < "$IN" > "$OUT", outputs: { out: .txt } }
  joined:
    kind: command
    from: upper
    params: { per: all, run: 'ls "$IN_DIR" > "$OUT"', outputs: { list: list.txt } }
`;
