"""The UI's build and its JavaScript helpers, with the real Node.js and esbuild (from npm at setup).

* The committed bundle is exactly what the sources build (reproducible: no timestamps, no paths),
  compared with the committed files when the UI's sources are as committed, else with the tree's.
* The browser splits a typed matcher list as the API's parser does (pipeline.matchers.parse_matchers)
  and reads a matcher as parse_matcher does: same tokens, same values, same error messages, on
  hand-picked and generated inputs. The API stays the parser of record; this keeps the UI honest.
* The helpers' own unit tests (node --test).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.matchers import MatcherError, parse_matcher, parse_matchers

REPO = Path(__file__).resolve().parents[3]
WEB = REPO / "pipeline" / "ui" / "web"
STATIC = REPO / "pipeline" / "ui" / "static"


def node() -> str:
    found = shutil.which("node")
    if found is None or not (WEB / "node_modules" / "esbuild").is_dir():
        pytest.fail("the UI's build needs Node.js and its npm packages: run deploy/local/setup.sh", pytrace=False)
    return found


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, timeout=30)


def committed(path: Path) -> bytes | None:
    """The file as committed, when the UI's sources in the tree are the committed ones."""
    if shutil.which("git") is None or git("rev-parse", "--git-dir").returncode != 0:
        return None
    if git("diff", "--quiet", "HEAD", "--", str(WEB.relative_to(REPO))).returncode != 0:
        return None  # sources edited and not committed yet: only reproducibility can be checked
    shown = git("show", f"HEAD:{path.relative_to(REPO)}")
    return shown.stdout if shown.returncode == 0 else None


def test_bundle_is_what_the_sources_build(tmp_path):
    result = subprocess.run([node(), str(WEB / "build.mjs"), "--outdir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == sorted(p.name for p in STATIC.iterdir()) == ["THIRD-PARTY-LICENSES.txt", "app.css", "app.js"]
    for name in built:
        fresh = (tmp_path / name).read_bytes()
        expected = committed(STATIC / name)
        expected = (STATIC / name).read_bytes() if expected is None else expected
        assert fresh == expected, (f"pipeline/ui/static/{name} is not what the sources build: run "
                                   "`node pipeline/ui/web/build.mjs` (or deploy/local/setup.sh) and commit it")
    assert b"preact" in (tmp_path / "THIRD-PARTY-LICENSES.txt").read_bytes()


SPLIT_SCRIPT = """
import { parseMatcher, splitMatchers } from './src/matchers.js';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((text) => {
  const tokens = splitMatchers(text);
  const parsed = tokens.map((token) => {
    try {
      const m = parseMatcher(token);
      return { ok: [m.name, m.op, m.value] };
    } catch (error) {
      return { error: error.message };
    }
  });
  return { tokens, parsed };
});
process.stdout.write(JSON.stringify(out));
"""


HAND_PICKED = [
    'alertname="A"', '{alertname="A", severity=~"crit.*"}', 'a=b,c!=d', 'a="x,y",b="}"', '{a="1"}', 'a=1,',
    'a=1,,b=2', '  a = "spaced"  ', 'a="esc\\"aped"', 'a="back\\\\slash"', 'a="new\\nline"', 'a="lone\\q"',
    'a=unquoted value', 'a="unterminated', 'a="x"y"', 'nope', '=x', 'a==b', 'a=~"(x|y)"', 'a!~"z"',
    'job:rate5m="1"', '{}', '', '{a="}"}', 'a="\\\\"', 'a=\\', '"a"=b', 'a="1",b', 'a=" trailing "',
]


def generated(count: int, seed: int = 17) -> list[str]:
    """Matcher lists shaped like what people type, then now and then broken by one odd character."""
    rnd = random.Random(seed)
    names, ops = ["a", "job", "severity", "x_1", "0bad"], ["=", "!=", "=~", "!~", "=="]
    value_chars = ["x", "1", " ", ",", "}", "{", '"', '\\"', "\\", "\\n", ".*", "é", "|"]
    out = []
    for _ in range(count):
        matchers = []
        for _ in range(rnd.randint(1, 3)):
            value = "".join(rnd.choice(value_chars) for _ in range(rnd.randint(0, 5)))
            quote = '"' if rnd.random() < 0.7 else ""
            space = " " if rnd.random() < 0.2 else ""
            matchers.append(f"{rnd.choice(names)}{space}{rnd.choice(ops)}{space}{quote}{value}{quote}")
        text = rnd.choice([",", ", "]).join(matchers) + rnd.choice(["", "", ","])
        if rnd.random() < 0.3:
            text = "{" + text + "}"
        if rnd.random() < 0.3:
            at = rnd.randrange(len(text) + 1)
            text = text[:at] + rnd.choice(['"', "\\", ",", "{", "}", "="]) + text[at:]
        out.append(text)
    return out


def api_matcher(token: str) -> dict:
    try:
        m = parse_matcher(token)
        return {"ok": [m.name, m.type.value, m.value]}
    except MatcherError as exc:
        return {"error": str(exc)}


def disagreement(text: str, js: dict) -> str | None:
    """How the UI's reading of ``text`` differs from the API's, or None."""
    api = [api_matcher(token) for token in js["tokens"]]
    for token, ui_result, api_result in zip(js["tokens"], js["parsed"], api):
        # The UI does not compile regular expressions (RE2 is not JavaScript's dialect): a pattern
        # the API refuses reads fine in the UI, which sends it and shows the API's message.
        regex_refused = api_result.get("error", "").startswith("error parsing regexp") and "ok" in ui_result
        if ui_result != api_result and not regex_refused:
            return f"token {token!r}: ui {ui_result} api {api_result}"
    try:  # the tokens are the API's: parsing them one by one is parsing the list
        whole = {"ok": [[m.name, m.type.value, m.value] for m in parse_matchers(text.strip())]}
    except MatcherError as exc:
        whole = {"error": str(exc)}
    first_error = next((r for r in api if "error" in r), None)
    expected = first_error or {"ok": [r["ok"] for r in api]}
    return None if whole == expected else f"tokens {js['tokens']}: one by one {expected}, the list {whole}"


def test_matcher_splitting_and_parsing_match_the_api_parser():
    cases = HAND_PICKED + generated(600)
    result = subprocess.run([node(), "--input-type=module", "-e", SPLIT_SCRIPT], cwd=WEB, input=json.dumps(cases),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    differences = [f"{text!r}: {d}" for text, js in zip(cases, answers) if (d := disagreement(text, js))]
    assert not differences, "\n".join(differences[:10])
    assert sum(all("ok" in r for r in js["parsed"]) for js in answers) > 100  # the cases are not all broken
    # one matcher alone, as the silence editor reads its ?matcher= values
    assert parse_matcher('a="x"').value == "x"


def test_helpers_unit_tests():
    result = subprocess.run([node(), "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
