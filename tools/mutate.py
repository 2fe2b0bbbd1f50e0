"""`make mutate`: mutmut over emosketch's guard code, one module at a time with the tests that guard it.

Each module is mutated in a scratch copy of the project (mutmut writes its mutants/ folder beside the
code it mutates), so the working tree is never touched. The score per module is killed / (killed +
survived); a surviving mutant in guard code is a missing test, and its diff is printed.

    .venv/bin/python tools/mutate.py                        # every module below
    .venv/bin/python tools/mutate.py manifest checkpoints   # some of them
    .venv/bin/python tools/mutate.py --max-children 2 --out mutate-out
    .venv/bin/python tools/mutate.py serve --seconds 900    # stop after 15 min (see --seconds)
    .venv/bin/python tools/mutate.py serve-limits --max-children 1   # only serve's guards (LIMITS)

Not part of `make test`: a module takes minutes to tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The tests that start uvicorn in a thread or a process: mutmut's in-process first run never ended with some, and under its
# wrappers uvicorn could not call the app's async __call__ in others, so the serve runs leave them out
SERVER_TESTS = ("slowloris or live_server or cannot_pass_the_cap or reads_nothing or pi_client or cuts_off_open_streams"
                " or real_server")

# name -> (module mutated, the tests that guard it); a name in LIMITS mutates only part of its modules
MODULES = {
    "manifest": ("emosketch/export/manifest.py", ["tests/test_weak_cases.py", "tests/test_pack.py", "tests/test_ctx.py"]),
    "checkpoints": ("emosketch/checkpoints.py", ["tests/test_weak_cases.py"]),
    "serve": ("emosketch/serve/app.py", ["tests/test_serve.py", "-k", f"not ({SERVER_TESTS})"]),
    "unpickler": ("emosketch/gan/stylegan2/snapshot.py",
                  ["tests/test_stylegan2.py", "tests/test_limits.py", "-k", "stylegan2 or snapshot or unpickler"]),
    # serve's guards only (LIMITS below), app.py and engine.py: the whole of app.py is 1,081 mutants, ~2 hours
    "serve-limits": ("emosketch/serve/app.py emosketch/serve/engine.py",
                     ["tests/test_serve.py", "tests/test_limits.py", "-k",
                      f"(serve or session or streamed) and not ({SERVER_TESTS})"]),
}


# name -> {module: {function: None for all its mutants, or the words of the lines whose mutants count}}.
# A function is named as in its module ("_body", "Engine.open_stream", "_Api.classify"); a nested function is
# mutated as part of its top-level one, so its lines are picked by words.
LIMITS = {
    "serve-limits": {
        "emosketch/serve/app.py": {
            "_body": None,  # the body size limit, declared and streamed
            "_json": None, "_json_int": None, "_json_constant": None,  # what a JSON body may hold
            "_form_file": ("limit",),  # a multipart upload's file under the upload limit
            "_Api.classify": ("max_upload_bytes", "FORM_OVERHEAD"),  # classify's limits on its body
            "host_allowed": None,
            "_HostCheck.__call__": ("scope[", "host =", "host_allowed(", "self.app("),  # not the refusal's wording
            "_CountedStream.__call__": None,  # the stream cap's count given back
        },
        "emosketch/serve/engine.py": {
            "Engine.new_session": None,  # the session cap
            "Engine.open_stream": None, "Engine.close_stream": None,  # the stream cap (max_streams)
            "_image_bytes": None,  # the pixel limit and the longest side, as the upload is decoded
            "Engine.__init__": ("decode_slots",),  # uploads decoded at once
        },
    },
}


def limit_mutants(work: Path, name: str) -> list[str]:
    """The mutmut names of LIMITS[name]'s mutants in the scratch copy `work`, as `mutmut run` takes them."""
    import os
    import re

    # mutmut 3's own generator and names
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import make_mutant_key

    here = Path.cwd()
    os.chdir(work)  # mutmut reads its config (setup.cfg) from the working directory
    try:
        names = []
        for module, functions in LIMITS[name].items():
            mutated = mutate_file_contents(module, (work / module).read_text())
            bodies = _generated_functions(mutated.code)
            prefix = module.removesuffix(".py").replace("/", ".")
            for function, words in functions.items():
                class_name, _, function_name = function.rpartition(".")
                mangled = make_mutant_key(function_name, class_name or None)
                mutants = [m for m in mutated.mutant_names if re.fullmatch(re.escape(mangled) + r"__mutmut_\d+", m)]
                if not mutants:
                    raise SystemExit(f"mutate: {name}: {module} has no mutants of {function}")
                if words is not None:
                    original = bodies[f"{mangled}__mutmut_orig"]
                    mutants = [m for m in mutants if any(w in _changed_line(original, bodies[m]) for w in words)]
                names += [f"{prefix}.{m}" for m in mutants]
        return names
    finally:
        os.chdir(here)


def _generated_functions(code: str) -> dict[str, list[str]]:
    """Each function mutmut generated (the original as ...__mutmut_orig and each mutant): its lines."""
    import re

    bodies: dict[str, list[str]] = {}
    lines: list[str] | None = None
    indent = 0
    for line in code.splitlines():
        found = re.match(r"(\s*)(?:async )?def (x\S*?__mutmut_(?:orig|\d+))\(", line)
        if found:
            indent, lines = len(found.group(1)), bodies.setdefault(found.group(2), [])
        elif lines is not None:
            if line.strip() and len(line) - len(line.lstrip()) <= indent and line.lstrip()[0] not in ")]}":
                lines = None
            else:
                lines.append(line)
    return bodies


def _changed_line(original: list[str], mutant: list[str]) -> str:
    """The original line where a mutant first differs from it (a mutant changes one node)."""
    for before, after in zip(original, mutant):
        if before != after:
            return before
    return original[min(len(mutant), len(original) - 1)]


def run_module(name: str, max_children: int, log, seconds: float | None = None) -> dict:
    module, tests = MODULES[name]
    with tempfile.TemporaryDirectory(prefix=f"mutate-{name}-") as tmp:
        work = Path(tmp) / ROOT.name
        work.mkdir()
        if (ROOT.parent / "shared").is_dir():
            # tests find their fixtures (StyleGAN2 snapshots) at ../shared: from the copy, and from the
            # mutants/ folder inside it where mutmut runs them
            for place in (Path(tmp), work):
                (place / "shared").symlink_to(ROOT.parent / "shared")
        for part in ("emosketch", "tests", "pyproject.toml", "ruff.toml"):
            src = ROOT / part
            if src.is_dir():
                shutil.copytree(src, work / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif src.exists():
                shutil.copy2(src, work / part)
        # mutmut reads [mutmut] from setup.cfg; pytest's settings come along with it
        config = (ROOT / "setup.cfg").read_text()
        config += ("\n[mutmut]\nsource_paths = emosketch\n"
                   "only_mutate =\n" + "".join(f"    {m}\n" for m in module.split()) +
                   "pytest_add_cli_args_test_selection =\n" + "".join(f"    {t}\n" for t in tests) +
                   "pytest_add_cli_args = -p no:randomly -x -q\n")
        (work / "setup.cfg").write_text(config)
        mutmut = str(Path(sys.executable).parent / "mutmut")
        started = time.monotonic()
        selected = limit_mutants(work, name) if name in LIMITS else []
        if selected:
            log(f"{name}: {len(selected)} mutants of its guards")
        proc = subprocess.Popen([mutmut, "run", "--max-children", str(max_children), *selected], cwd=work,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=seconds)
            partial = False
        except subprocess.TimeoutExpired:  # Ctrl-C: mutmut stops its workers and exits
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate()
            partial = True
        run = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
        subprocess.run([mutmut, "export-cicd-stats"], cwd=work, capture_output=True, text=True)
        stats_path = work / "mutants" / "mutmut-cicd-stats.json"
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        survivors = subprocess.run([mutmut, "results"], cwd=work, capture_output=True, text=True).stdout
        diffs = []
        for line in survivors.splitlines():
            key = line.split(":")[0].strip()
            if key and ": survived" in line:
                diffs.append(subprocess.run([mutmut, "show", key], cwd=work, capture_output=True, text=True).stdout)
        codes = {}
        for part in module.split():
            meta = work / "mutants" / f"{part}.meta"
            codes |= json.loads(meta.read_text()).get("exit_code_by_key", {}) if meta.exists() else {}
        if selected:  # the mutants left out are "not checked"; the counts are of those selected
            from mutmut.stats import status_by_exit_code

            codes = {key: codes.get(key) for key in selected}
            status = [status_by_exit_code[code] for code in codes.values()]
            stats = {"total": len(selected)} | {k: status.count(v) for k, v in (
                ("killed", "killed"), ("survived", "survived"), ("timeout", "timeout"),
                ("no_tests", "no tests"), ("suspicious", "suspicious"), ("not_checked", "not checked"))}
        killed, survived = stats.get("killed", 0), stats.get("survived", 0)
        untested: dict[str, int] = {}  # mutants that no guarding test reaches, per function
        for key, code in codes.items():
            if code == 33:  # mutmut's "no tests"
                function = key.split(".")[-1].split("__mutmut_")[0].removeprefix("x_")
                untested[function] = untested.get(function, 0) + 1
        result = {"module": module, "tests": tests, "killed": killed, "survived": survived,
                  "total": stats.get("total", 0), "timeout": stats.get("timeout", 0),
                  "no_tests": stats.get("no_tests", 0), "suspicious": stats.get("suspicious", 0),
                  "score": round(killed / (killed + survived), 3) if killed + survived else None,
                  "seconds": round(time.monotonic() - started), "partial": partial, "untested": untested,
                  "survivors": diffs}
        if (run.returncode not in (0, 1) and not stats) or (not killed and not survived):
            result["error"] = run.stdout[-2000:]
        score = "no mutant tested" if result["score"] is None else f"score {result['score']:.0%}"
        log(f"{name}: {module}: {killed} killed, {survived} survived of {result['total']} "
            f"({score}) in {result['seconds']} s{' (stopped at --seconds)' if partial else ''}")
        if not killed and not survived:  # mutmut's own words say why: a guarding test that failed unmutated, say
            log("mutmut said, at the end:\n" + "\n".join(run.stdout.splitlines()[-15:]))
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", choices=[*MODULES, []], help="modules to mutate [default: all]")
    ap.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop each module's run after this long (Ctrl-C to mutmut); mutmut 3 records a "
                         "module's results only when it finishes, so a stopped run scores nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "mutate-out", help="folder for scores.json and survivors")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.names or list(MODULES):
        results[name] = run_module(name, args.max_children, print, args.seconds)
        (args.out / f"{name}-survivors.txt").write_text("\n".join(results[name].pop("survivors")))
        (args.out / "scores.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"scores: {args.out / 'scores.json'}")


if __name__ == "__main__":
    main()
