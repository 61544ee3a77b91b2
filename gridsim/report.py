"""Running the notebook suite into reports: pages per scenario in warm kernels, HTML for readers, an index.

``run_reports(["baseline"], out)`` executes every notebook in :data:`~gridsim.paths.NOTEBOOK_DIR`
(``NN_name.ipynb``) with the scenario id injected into its ``parameters`` cell, into
``out/<scenario>/NN_name.ipynb`` and ``out/<scenario>/NN_name.html`` (nbconvert, code hidden: the reader
is a planner or a leader, not a programmer). A notebook that declares an ``output_dir`` parameter writes
its artefacts into ``out/<scenario>/files/``; each workbook written there (``files/<name>/budget.xlsx``)
is copied beside the notebooks as ``out/<scenario>/<name>.xlsx``, and each PDF (``files/summary.pdf``,
the leader's one-page summary of ``00_summary``) as ``out/<scenario>/summary.pdf``. ``out/index.html``
links every scenario and notebook found under ``out`` — also those from earlier runs — from the
``manifest.json`` each scenario folder keeps, with each page's time and the plan id it showed.

One plan per scenario: before any page runs, the register is partitioned once per scenario (through a
cache in ``out/.plan-cache`` keyed by register, grid rules, seed and version: :mod:`gridsim.scenario_plan`)
and stored in ``out/<scenario>/plan/``; every page declaring ``plan_path`` reads that plan, so all pages
of a scenario show the same grids. The data may be the user's own (``homes_path``, ``units_path``,
``barriers_path``, ``cases_path``, ``current``, ``crs``: :mod:`gridsim.report_inputs`), read and checked
once here before anything runs; a page whose declared needs (notebook metadata ``gridsim.needs``) the data
does not meet is skipped, and the index says why.

Pages run in warm kernels (:class:`WarmKernel`): ``jobs`` lanes each keep one kernel and take pages off
one queue (:class:`_PageQueue`: longest first, by the last run's or this run's times), the parameters injected as papermill does; before each
page the namespace is emptied and the working folder set to the page's scenario folder, so a page depends
on nothing an earlier page left, while the imports (~3 s a page in a new kernel) and the register read
(:func:`gridsim.report_inputs.load_inputs`) are paid once per kernel. Each page has a wall-clock timeout;
a failing or timed-out page is recorded with its first error and the others still run (a kernel that timed
out or died is replaced). The kernels import the same ``gridsim`` as this process (its package root is put
first on their ``PYTHONPATH``), so a report never mixes two versions of the library.

Pages across scenarios: a notebook whose metadata says ``gridsim.scope: report`` — ``06_scenarios`` (each
variant and reading against the baseline) and ``07_sensitivity`` (every ranged assumption) — is an
analysis of the whole set of scenarios rather than of one, so it runs once per report run, for the
baseline (:func:`report_host`; the first scenario when the run has no baseline). Every other scenario's
manifest lists it as ``shared``, linking to the host's copy (:func:`shared_result`), and the page itself
prints which scenario it was made for. Running these two per scenario had cost more than all other pages
together (``benchmarks/bench_report.py``).

Pages shared by what they read (:class:`PageSharing`): a page whose metadata says ``gridsim.share: reads``
(the data page 01 and the partition page 02) runs first for the host with a log of every policy parameter it
reads (:func:`gridsim.policy.log_reads`); another scenario with the same plan whose values of those
parameters are the host's links to the host's copy (``shared``) instead of making the same page again — most
scenarios change pay or assessment only. A page that reads the scenario itself is never shared.

Pages kept: a page whose key (:mod:`gridsim.page_key`: its notebook, parameters, data files, stored plan,
policy, the package's code and the installed libraries) equals the one recorded in the scenario's manifest,
and which ran to the end last time, is kept as it is (``rerun=True`` / ``--rerun`` makes every page again).

Results stored by what they read (:mod:`gridsim.result_cache`, in ``out/.result-cache``, passed to the pages
declaring ``result_cache``): the money simulation of a plan is made once per scenario — by the first of
the summary, budget and assessment pages that asks, the others load it — and the analyses of 06 and 07 are
made again only when something they read changed (register, plan, policy, seed, sample sizes, or the
package's code and policy files), so a repeated report shows stored results.
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import html
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import nbformat

from . import __version__
from .errors import GridsimError
from .paths import NOTEBOOK_DIR, ROOT

DEFAULT_TIMEOUT_S = 600
DEFAULT_TIME_LIMIT_S = 120.0  # the optimizer's time limit, the notebooks' own default
PLAN_DIR = "plan"  # the scenario's one plan, inside its folder (gridsim.scenario_plan)
PLAN_CACHE = ".plan-cache"  # stored plans by key, inside the report folder, serving repeated runs
RESULT_CACHE = ".result-cache"  # stored simulation results by key (gridsim.result_cache), inside the report folder
INPUT_PARAMETERS = ("homes_path", "units_path", "barriers_path", "cases_path", "current", "crs")
PLAN_ID = re.compile(r"(?<!现状)方案编号 plan id: ([0-9a-f]{12})")
TODAY_ID = re.compile(r"现状方案编号 today's plan id: ([0-9a-f]{12})")
# Report defaults for notebook parameters (a -p KEY=VALUE wins; a notebook run on its own keeps its own
# defaults): 500 replicates per plan; benchmarks/bench_report.py measures how far the yearly P5/P50/P95
# move from a 4,000-replicate run. A report default only ever lowers a page's own default — it is there to
# make the report faster: page 07's ``draws`` (30 per Sobol run) stays 30 instead of becoming 500.
REPORT_DEFAULTS = {"draws": 500}
MANIFEST = "manifest.json"
INDEX = "index.html"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
FILES_DIR = "files"  # notebooks write their artefacts (workbooks, CSVs) here, inside the scenario folder


@dataclass
class NotebookResult:
    """The outcome of one notebook for one scenario; paths relative to the scenario folder."""

    scenario: str
    notebook: str
    title: str
    status: str  # "ok" | "failed" | "timeout" | "skipped" | "shared" (a page across scenarios, made for another)
    seconds: float
    message: str = ""
    ipynb: str = ""
    html: str = ""
    plan_id: str = ""  # the plan fingerprint the page printed (gridsim.scenario_plan.plan_line)
    today_id: str = ""  # the fingerprint of today's map the page printed (gridsim.scenario_plan.today_line)
    reads: list[str] | None = None  # the policy keys a page offered for sharing read (PageSharing), else None
    key: str = ""  # what the page was made from (gridsim.page_key): an unchanged page is kept next time
    kept: bool = False  # this run kept the page of the last run (its key unchanged)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped", "shared")


@dataclass
class ReportSummary:
    """What one ``run_reports`` call did: every result, and the index page it wrote."""

    results: list[NotebookResult] = field(default_factory=list)
    index: Path | None = None
    seconds: float = 0.0  # wall time of the whole run, plans included

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.results if not r.ok]


# ---------------------------------------------------------------------------------------------------
# The suite


def interactive_apps() -> set[str]:
    """Notebooks that are interactive apps served with Voila (the grid editor), not report pages.

    A static HTML copy of a widget app shows nothing useful, so reports leave it out and the index page
    says how to open it instead.
    """
    from .editor.serve import EDITOR_NOTEBOOK

    return {EDITOR_NOTEBOOK.name}


def suite(selected: Iterable[str] | None = None, notebook_dir: Path | None = None) -> list[Path]:
    """The report notebooks (``NN_name.ipynb``) in order; ``selected`` filters by prefix or stem (``01``)."""
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    apps = interactive_apps()
    paths = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file() and p.name not in apps)
    if selected:
        wanted = list(selected)
        chosen = [p for p in paths if any(p.stem == w or p.stem.startswith(f"{w}_") or p.name == w for w in wanted)]
        unknown = [w for w in wanted if not any(p.stem == w or p.stem.startswith(f"{w}_") or p.name == w for p in paths)]
        if unknown:
            raise GridsimError(f"找不到笔记本 (notebook not found): {unknown}; 可用 (available): {[p.stem for p in paths]}")
        return chosen
    if not paths:
        raise GridsimError(f"没有可运行的笔记本 (no notebooks found) in {notebook_dir}")
    return paths


def notebook_title(nb: nbformat.NotebookNode, default: str) -> str:
    """The first Markdown heading of a notebook, used as its title in the index."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def declared_parameters(path: Path) -> dict[str, Any]:
    """The names and defaults of a notebook's ``parameters`` cell (papermill's own reading of it)."""
    import papermill

    return {name: p["default"] for name, p in papermill.inspect_notebook(str(path)).items()}


def _parameters_for(path: Path, scenario: str, out_dir: Path, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario, its stored plan and any extra parameters the notebook declares; the others are not passed."""
    declared = declared_parameters(path)
    lowered = {k: v for k, v in REPORT_DEFAULTS.items() if k not in extra and k in declared
               and v < _literal(declared[k], v)}
    params = {"scenario": scenario, "output_dir": str(out_dir / FILES_DIR), **lowered, **extra}
    if (out_dir / PLAN_DIR / "plan.json").is_file():
        params["plan_path"] = str(out_dir / PLAN_DIR)
    return {k: v for k, v in params.items() if k in declared}


def _literal(text: str, fallback: Any) -> Any:
    """A parameter's default as papermill reports it (source text), as a value; ``fallback`` if not a literal."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return fallback


def page_scope(nb: nbformat.NotebookNode) -> str:
    """``report`` for a page that analyses across scenarios (notebook metadata ``gridsim.scope``), else
    ``scenario``. A page across scenarios runs once per report run, for :func:`report_host`; the other
    scenarios of the run link to it (:func:`shared_result`)."""
    return nb.metadata.get("gridsim", {}).get("scope", "scenario")


def report_host(scenarios: list[str]) -> str:
    """The scenario the pages across scenarios are made for: the baseline when the run has it, else the first."""
    return "baseline" if "baseline" in scenarios else scenarios[0]


def shared_result(page: "_Page", host: str) -> NotebookResult:
    """A page across scenarios in a scenario other than the host: a link to the host's copy."""
    name = page.src.name
    return NotebookResult(page.scenario, page.src.stem, page.title, "shared", 0.0,
                          f"跨情景分析，每次报告只算一次，按情景 {host} 计算 (across scenarios: made once per report, "
                          f"for {host})", f"../{host}/{name}", f"../{host}/{page.src.stem}.html")


def page_shares_by_reads(nb: nbformat.NotebookNode) -> bool:
    """Does the page offer to be shown once for scenarios it cannot tell apart (metadata ``gridsim.share:
    reads``)? Such a page promises to use its ``scenario`` parameter only through ``load_policy(scenario)``
    (tests/test_report.py checks the shipped ones), so all it knows of the scenario is what it reads from
    the Policy — which the read log records."""
    return nb.metadata.get("gridsim", {}).get("share") == "reads"


class PageSharing:
    """Pages made once and linked from the scenarios that could not change them.

    A scenario that changes, say, only the funding split has the baseline's plan and grid rules, so its
    data page and partition page would be the baseline's, byte for byte but the header — and making them
    again was most of the time of a report over all scenarios. A page that offers it
    (:func:`page_shares_by_reads`) runs first for the host scenario (:func:`report_host`) with a log of the
    policy parameters it reads (:func:`gridsim.policy.log_reads`); the same page of another scenario is
    then shown as the host's (``shared``) only when that scenario has the host's plan (and today's map) and
    every parameter the host's page read has the same value in it; if the page read the scenario itself,
    failed, or anything differs, it runs on its own. The pages of other scenarios wait (``held``) until the
    host's page is done. The keys read are kept in the manifest (``reads``) and shown in the index.

    Why the log can be trusted: every value a page gets from a Policy passes :meth:`~gridsim.policy.Policy.param`
    (tables and comparisons note every key), and the page's own ``scenario`` parameter is used only to load
    the policy (a test checks the shipped pages). A module that kept values derived from one page's policy
    for a later page would already break the warm kernels' promise that a page gives what it gives alone;
    the module memos there are keyed by content (tours by points, outlines by cells and grid ids). Reads made
    when a module is first imported come from the baseline, are noted only in a fresh kernel, and cannot
    depend on the scenario.
    """

    def __init__(self, host: str, policies: Mapping[str, Any], plan_ids: Mapping[str, str | None],
                 stems: Iterable[str]) -> None:
        self.host, self.policies, self.plan_ids = host, dict(policies), dict(plan_ids)
        self.stems = set(stems)
        self.held: dict[str, list[_Page]] = {stem: [] for stem in self.stems}
        self.made: dict[str, tuple[NotebookResult | None, list[str] | None]] = {}

    def waits(self, page: "_Page") -> bool:
        """Does this page wait for the host's copy (it is another scenario's page that may be shared)?"""
        return page.src.stem in self.stems and page.scenario != self.host

    def hold(self, page: "_Page") -> None:
        self.held[page.src.stem].append(page)

    def difference(self, scenario: str, stem: str) -> str | None:
        """Why ``scenario``'s copy of page ``stem`` cannot be the host's (None: it can)."""
        from .policy import SCENARIO_READ

        made, reads = self.made.get(stem, (None, None))
        if made is None or made.status != "ok" or reads is None:
            return "本情景的页面未完成 (the host's page did not finish)"
        if self.plan_ids.get(scenario) != self.plan_ids.get(self.host):
            return "网格方案不同 (another plan)"
        if SCENARIO_READ in reads:
            return "页面读取了情景本身 (the page reads the scenario itself)"
        mine, theirs = self.policies[scenario], self.policies[self.host]
        changed = [k for k in reads if mine.param(k).value != theirs.param(k).value]
        return f"参数不同 (parameters differ): {changed}" if changed else None

    def release(self, host_page: "_Page", result: NotebookResult,
                reads: list[str] | None) -> tuple[list[NotebookResult], list["_Page"]]:
        """The host's page is done: (results of the held pages now shared, held pages that must run)."""
        stem = host_page.src.stem
        self.made[stem] = (result, reads)
        shared, run = [], []
        for page in self.held.pop(stem, []):
            if self.difference(page.scenario, stem) is None:
                _remove_stale(page)
                shared.append(NotebookResult(
                    page.scenario, stem, page.title, "shared", 0.0,
                    f"与 {self.host} 相同：同一网格方案，本页读取的 {len(reads)} 个参数取值相同 (the same as "
                    f"{self.host}'s page: the same plan, and the {len(reads)} parameters it reads are equal)",
                    f"../{self.host}/{page.src.name}", f"../{self.host}/{stem}.html", result.plan_id, result.today_id,
                    reads))
            else:
                run.append(page)
        return shared, run


def _remove_stale(page: "_Page") -> None:
    """Delete the scenario's own copy of ``page`` from an earlier run — its notebook, its HTML and the files it
    published (:func:`page_writes`: ``files/<name>`` and the copy beside the pages) — for a page this run
    skips or links to another scenario's copy: never leave an earlier run's page or files looking current."""
    for stale in (page.scen_dir / page.src.name, (page.scen_dir / page.src.name).with_suffix(".html")):
        stale.unlink(missing_ok=True)
    for name in page.writes:
        published = page.scen_dir / FILES_DIR / name
        if published.is_dir():
            shutil.rmtree(published)
        else:
            published.unlink(missing_ok=True)
        beside = page.scen_dir / (name if name.endswith(".pdf") else f"{name}.xlsx")  # collect_pdfs/_workbooks
        beside.unlink(missing_ok=True)


def page_writes(nb: nbformat.NotebookNode) -> list[str]:
    """What a page publishes under its scenario's ``files/`` (notebook metadata ``gridsim.writes``: folder or
    file names, e.g. ``plan``, ``budget``, ``summary.pdf``)."""
    names = list(nb.metadata.get("gridsim", {}).get("writes", []))
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(n)) or n in (".", "..")]
    if bad:
        raise GridsimError(f"笔记本元数据 gridsim.writes 须为 files/ 下的文件或文件夹名 (plain names under files/): {bad}")
    return names


def page_needs(nb: nbformat.NotebookNode) -> list[str]:
    """What a page needs beyond a homes register (notebook metadata ``gridsim.needs``: current | cases | units)."""
    return list(nb.metadata.get("gridsim", {}).get("needs", []))


# ---------------------------------------------------------------------------------------------------
# Running pages in warm kernels


# The lanes already fill the cores, so each kernel's BLAS works on one thread: OpenBLAS's own threads spin while
# they wait, which doubled the CPU a budget's small matrix products took (0.58 → 0.29 CPU s for today's map,
# same wall time) and took it from the other lane. The sums differ only in the last bit (the order of
# additions; a machine's core count changes it the same way). A value the user set is kept.
SINGLE_THREAD_BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _kernel_env() -> dict[str, str]:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for name in SINGLE_THREAD_BLAS:
        env.setdefault(name, "1")
    return env


def _first_error(nb: nbformat.NotebookNode) -> str:
    """The first error cell of an executed notebook as 'cell N: Name: message', or ''."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"单元 cell {i}: {out.get('ename')}: {out.get('evalue')}"
    return ""


# Run before each page in a kept kernel: the page starts from an empty namespace in its own folder, with no
# figure of the page before left open; imported modules stay loaded (that is the time saved).
# %reset also removes the module attributes of __main__ that a fresh kernel has (None there); multiprocessing's
# spawn (Dask's workers on page 07) reads __main__.__spec__, so they are put back.
_RESET = ("%reset -f\n__spec__ = __loader__ = __package__ = None\nimport os as _os\n_os.chdir({cwd!r})\ndel _os\n"
          "import sys as _sys\nif 'matplotlib.pyplot' in _sys.modules:\n"
          "    _sys.modules['matplotlib.pyplot'].close('all')\ndel _sys\n")


# Around each page's own cells: a log of the policy parameters the page reads (gridsim.policy.log_reads), printed
# by the last hidden cell after a marker and taken out of the stored page (PageSharing decides with it).
READS_MARK = "gridsim-page-reads:"
_LOG_OPEN = "import gridsim.policy as _gp\n_gp.open_page_log()\ndel _gp\n"
_LOG_CLOSE = ("import gridsim.policy as _gp, json as _js\nprint({mark!r} + _js.dumps(_gp.close_page_log()))\n"
              "del _gp, _js\n").format(mark=READS_MARK)


def _logged_reads(cell) -> list[str] | None:
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(READS_MARK):
                return json.loads(line[len(READS_MARK):])
    return None


class WarmKernel:
    """One Python kernel that runs page after page: started once, its imports kept, its namespace reset.

    A new kernel and the imports of gridsim, pandas, geopandas and matplotlib cost about 3 s a page; a
    report of 14 scenarios × 7 pages paid that ~100 times. Each page still starts from an empty namespace
    in its scenario's folder (:data:`_RESET`), so pages stay independent: a page run alone gives the same
    output. After a timeout or a dead kernel the kernel is shut down and the next page gets a fresh one.
    """

    def __init__(self) -> None:
        self.km = None

    def run(self, src: Path, dst: Path, parameters: Mapping[str, Any],
            timeout: float) -> tuple[str, str, list[str] | None]:
        """Execute ``src`` with ``parameters`` injected (as papermill does) into ``dst``; (status, message,
        the policy keys the page read — None unless it ran to the end)."""
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
        from nbformat.v4 import new_code_cell
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        dst.parent.mkdir(parents=True, exist_ok=True)
        nb = parameterize_notebook(load_notebook_node(str(src)), dict(parameters))
        nb.cells[:0] = [new_code_cell(_RESET.format(cwd=str(dst.parent))), new_code_cell(_LOG_OPEN)]
        nb.cells.append(new_code_cell(_LOG_CLOSE))
        if self.km is None:
            self.km = AsyncKernelManager(kernel_name="python3")
        deadline = time.monotonic() + timeout
        client = NotebookClient(nb, km=self.km, timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                                interrupt_on_timeout=False, kernel_name="python3",
                                resources={"metadata": {"path": str(dst.parent)}})
        status, message = "ok", ""
        try:
            # the kernel's own log (a warning about its local TCP channels at each start) stays out of the
            # report's output; what a page prints or raises comes back through the client
            client.execute(env=_kernel_env(), cwd=str(dst.parent), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            status, message = "timeout", f"超时 (timed out) after {timeout:g} s"
        except CellExecutionError:
            status = "failed"
        except DeadKernelError as exc:
            status, message = "failed", f"内核退出 (kernel died): {exc}"
        except Exception as exc:  # any runner failure is this page's failure; the others still run
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
        if status == "timeout" or message.startswith("内核"):
            self.close()  # a kernel that timed out may still be busy; the next page gets a fresh one
        reads = _logged_reads(nb.cells[-1]) if status == "ok" else None
        del nb.cells[-1], nb.cells[:2]
        nbformat.write(nb, dst)
        if status == "failed" and not message:
            message = _first_error(nb) or "失败 (failed)"
        return status, message, reads

    def close(self) -> None:
        """Shut the kernel down (a later page starts a new one)."""
        from jupyter_core.utils import run_sync

        if self.km is not None and self.km.has_kernel:
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # a kernel already gone needs no shutdown
                pass
        self.km = None


def _with_font(page: str, font_cache: str | Path = "") -> str:
    """``page`` with its fonts and frames placed last in its head (so they win over the template's).

    The CJK font is cut down to the page's characters and the package's own
    (:func:`gridsim.webfont.report_font_chars`) and embedded (:mod:`gridsim.webfont`): a reader on a machine
    without a Chinese font still sees every heading, table header and output. Cutting the font is most of a
    page's conversion; with ``font_cache`` (the report's result cache) a page asking for the same characters
    as one before — most pages of a report, and the same page of a repeated run — gets the stored cut, keyed
    by those characters, the font file and the code (:func:`gridsim.result_cache.cached`).
    """
    from .webfont import embedded_css, report_font_chars

    chars = report_font_chars(page)
    if font_cache:
        from .plotting import cjk_font_path
        from .result_cache import cached

        font = Path(cjk_font_path())
        key = {"chars": "".join(sorted(chars)),
               "font": [str(font), font.stat().st_size, font.stat().st_mtime_ns]}
        css = cached(font_cache, "font", key, lambda: embedded_css(page, chars))[0]
    else:
        css = embedded_css(page, chars)
    return page.replace("</head>", css + FRAME_CSS + "</head>", 1)


# Wide output tables scroll inside their own frame instead of running off the page (and off the paper:
# printed, they shrink to the page width instead).
FRAME_CSS = ("<style>.jp-OutputArea-child,.jp-OutputArea-output{min-width:0;max-width:100%;}"
             ".jp-OutputArea-output{overflow-x:auto;}"
             "@media print{.jp-OutputArea-output{overflow:visible;}.jp-RenderedHTMLCommon table{font-size:70%;}}"
             "</style>")


@functools.lru_cache(maxsize=1)
def _exporter():
    """One HTML exporter per process: its templates are loaded and compiled once, not for every page."""
    from nbconvert import HTMLExporter

    return HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                        language_code="zh")  # lang="zh": the browser picks Chinese glyph forms


def to_html(ipynb: Path, dst: Path, title: str, font_cache: str | Path = "") -> Path:
    """The executed notebook as HTML for readers: no code, no prompts, no warning streams, its own CJK font
    (``font_cache``: see :func:`_with_font`)."""
    nb = nbformat.read(ipynb, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    body, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    dst.write_text(_with_font(body, font_cache), encoding="utf-8")
    return dst


def printed_plan_ids(ipynb: Path) -> tuple[str, str]:
    """The scenario plan id and today's plan id an executed page printed (each empty when the page printed
    none, or several different ones)."""
    try:
        nb = nbformat.read(ipynb, as_version=4)
    except Exception:
        return "", ""
    text = "\n".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
                     if out.get("output_type") == "stream")
    found = [set(rx.findall(text)) for rx in (PLAN_ID, TODAY_ID)]
    return tuple(ids.pop() if len(ids) == 1 else "" for ids in found)


def _converted(ipynb: Path, title: str, font_cache: str = "") -> tuple[str, float]:
    """:func:`to_html` timed, for the HTML pool: (file name, seconds)."""
    start = time.perf_counter()
    return to_html(ipynb, ipynb.with_suffix(".html"), title, font_cache).name, time.perf_counter() - start


@dataclass
class _Page:
    """One page to make: a notebook for a scenario (and who else shows it, for a page across scenarios)."""

    src: Path
    scenario: str
    scen_dir: Path
    title: str
    skip: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # what it publishes under files/ (page_writes)
    key: str = ""  # gridsim.page_key.page_key of this run
    parameters: dict[str, Any] = field(default_factory=dict)  # what the page is run with (_parameters_for)


def _finish(page: _Page, status: str, message: str, seconds: float, html_future,
            reads: list[str] | None = None) -> NotebookResult:
    """The page's result once its HTML is written (or failed); ``seconds`` covers executing and converting."""
    dst = page.scen_dir / page.src.name
    html_name = ""
    if html_future is not None:
        try:
            html_name, html_seconds = html_future.result()
            seconds += html_seconds
        except Exception as exc:
            status = "failed"
            message = message or f"HTML 转换失败 (HTML conversion failed): {type(exc).__name__}: {exc}"
    ids = printed_plan_ids(dst) if dst.exists() else ("", "")
    return NotebookResult(page.scenario, page.src.stem, page.title, status, round(seconds, 1), message,
                          dst.name if dst.exists() else "", html_name, *ids, reads=reads,
                          key=page.key if status == "ok" else "")


class _PageQueue:
    """The pages waiting for a lane, handed out longest first, as far as is known when a lane asks.

    The host's pages come first (other scenarios' copies may wait for them: :class:`PageSharing`), then the
    page expected to take longest: its time in the last run, else this notebook's time so far in this run
    (a held copy released late, or another scenario's page of the same notebook), else first of all (unknown:
    running it early is how its time gets known), pages across scenarios (the longest) before the others.
    So long pages do not end up last, on one lane while the other has nothing left. ``None`` (stop) is
    handed out only when no page is left."""

    def __init__(self, host: str, last: Mapping[tuple[str, str], float], scopes: Mapping[str, str]) -> None:
        self.host, self.last, self.scopes = host, dict(last), dict(scopes)
        self.seen: dict[str, float] = {}  # notebook stem -> its longest time so far in this run
        self.pages: list[_Page] = []
        self.stops = 0
        self.cond = threading.Condition()

    def _rank(self, page: _Page) -> tuple:
        expected = self.last.get((page.scenario, page.src.stem), self.seen.get(page.src.stem, float("inf")))
        return page.scenario != self.host, -expected, self.scopes.get(page.src.stem) != "report"

    def put(self, page: "_Page | None") -> None:
        with self.cond:
            if page is None:
                self.stops += 1
            else:
                self.pages.append(page)
            self.cond.notify()

    def observe(self, page: _Page, seconds: float) -> None:
        with self.cond:
            self.seen[page.src.stem] = max(seconds, self.seen.get(page.src.stem, 0.0))

    def get(self) -> "_Page | None":
        with self.cond:
            while not self.pages and not self.stops:
                self.cond.wait()
            if self.pages:  # min() keeps the first of equal ranks: the order pages were put in
                page = min(self.pages, key=self._rank)
                self.pages.remove(page)
                return page
            self.stops -= 1
            return None


def _lane(pages: "_PageQueue", extra: Mapping[str, Any], timeout: float, html_pool, done) -> None:
    """Take pages off the shared queue and run them one after another in one warm kernel, until a ``None``.

    The HTML of each page is made in ``html_pool`` (cutting the font is CPU-bound Python that would queue
    behind the runner's threads) while this lane already runs the next page; ``done(page, status,
    message, seconds, future, reads)`` is called for each page."""
    kernel = WarmKernel()
    try:
        while (page := pages.get()) is not None:
            dst = page.scen_dir / page.src.name
            start = time.perf_counter()
            reads = None
            try:
                status, message, reads = kernel.run(page.src, dst, page.parameters, timeout)
            except Exception as exc:  # any runner failure is this page's failure; the others still run
                status, message = "failed", f"{type(exc).__name__}: {exc}"
                kernel.close()
            seconds = time.perf_counter() - start
            pages.observe(page, seconds)
            future = (html_pool.submit(_converted, dst, page.title, str(extra.get("result_cache") or ""))
                      if dst.exists() else None)
            done(page, status, message, seconds, future, reads)
    finally:
        kernel.close()


# ---------------------------------------------------------------------------------------------------
# Manifests and the index page


def collect_workbooks(scen_dir: Path, since: float) -> list[Path]:
    """Copy each workbook a notebook wrote this run (``files/<name>/budget.xlsx``) to ``<scenario>/<name>.xlsx``.

    Only workbooks written after ``since`` (a ``time.time()``) are copied, so a notebook that failed this
    time never leaves last run's workbook looking current; a copy whose source under ``files/`` is gone is
    removed.
    """
    copied = []
    for book in sorted((scen_dir / FILES_DIR).glob("*/budget.xlsx")):
        if book.stat().st_mtime >= since:
            dst = scen_dir / f"{book.parent.name}.xlsx"
            shutil.copy2(book, dst)
            copied.append(dst)
    for old in scen_dir.glob("*.xlsx"):  # a copy whose source is gone (its page was skipped or shared)
        if not (scen_dir / FILES_DIR / old.stem / "budget.xlsx").exists():
            old.unlink()
    return copied


def collect_pdfs(scen_dir: Path, since: float) -> list[Path]:
    """Copy each PDF a notebook wrote this run (``files/summary.pdf``) beside the notebooks
    (``<scenario>/summary.pdf``); a copy whose source under ``files/`` is gone is removed."""
    copied = []
    for pdf in sorted((scen_dir / FILES_DIR).glob("*.pdf")):
        if pdf.stat().st_mtime >= since:
            shutil.copy2(pdf, scen_dir / pdf.name)
            copied.append(scen_dir / pdf.name)
    for old in scen_dir.glob("*.pdf"):
        if not (scen_dir / FILES_DIR / old.name).exists():
            old.unlink()
    return copied


def _listed_files(scen_dir: Path) -> list[str]:
    """PDFs and workbooks beside the notebooks, the stored plan, then what the notebooks published under
    ``files/`` (CSVs, the plan's GeoPackage and roster workbook), as paths relative to the scenario folder."""
    pdfs = sorted(p.name for p in scen_dir.glob("*.pdf"))
    books = sorted(p.name for p in scen_dir.glob("*.xlsx"))
    plan = [f"{PLAN_DIR}/plan.csv"] if (scen_dir / PLAN_DIR / "plan.csv").is_file() else []
    published = sorted(p.relative_to(scen_dir).as_posix() for pattern in ("**/*.csv", "**/*.gpkg", "**/roster.xlsx")
                       for p in (scen_dir / FILES_DIR).glob(pattern))
    return pdfs + books + plan + published


def kept_page(page: _Page, old: Mapping[str, Any] | None) -> NotebookResult | None:
    """The last run's result of ``page`` when the page is unchanged (same :mod:`gridsim.page_key`), ran to the
    end and its files are still there; else None (the page is made again)."""
    if not old or not page.key or old.get("key") != page.key or old.get("status") != "ok":
        return None
    if not all(old.get(name) and (page.scen_dir / old[name]).is_file() for name in ("ipynb", "html")):
        return None
    return NotebookResult(page.scenario, page.src.stem, page.title, "ok", 0.0,
                          f"未变，沿用上次的页面（当时用时 {old.get('seconds', 0)} s）(unchanged since the last run: "
                          f"notebook, parameters, data, plan, policy, code and libraries equal; kept)",
                          old["ipynb"], old["html"], old.get("plan_id", ""), old.get("today_id", ""),
                          old.get("reads"), page.key, kept=True)


def _previous_results(scen_dir: Path) -> dict[str, dict]:
    """The last recorded run's entry per notebook of this scenario folder (empty if none)."""
    try:
        notebooks = json.loads((scen_dir / MANIFEST).read_text(encoding="utf-8"))["notebooks"]
        return {r["notebook"]: r for r in notebooks if isinstance(r, dict) and "notebook" in r}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_manifest(scen_dir: Path, scenario, results: list[NotebookResult], *, plan: dict | None = None,
                    run_seconds: float | None = None, data: dict | None = None) -> None:
    """Record this run's results, keeping earlier entries for notebooks not re-run whose files still exist."""
    path = scen_dir / MANIFEST
    previous, old = {}, {}
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            previous = {r["notebook"]: r for r in old.get("notebooks", [])}
        except (ValueError, AttributeError, TypeError):
            previous, old = {}, {}
    merged = {k: v for k, v in previous.items() if (scen_dir / v.get("ipynb", "")).is_file()}
    merged.update({r.notebook: asdict(r) for r in results})
    manifest = {
        "scenario": scenario.id, "title": scenario.title, "description": scenario.description,
        "generated": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "gridsim": __version__,
        "notebooks": [merged[k] for k in sorted(merged)],
        "files": _listed_files(scen_dir),
        "plan": plan if plan is not None else old.get("plan", {}), "run_seconds": run_seconds,
        "data": data or old.get("data") or {"embedded": True},
    }
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


_STATUS_ZH = {"ok": "完成 ok", "failed": "失败 failed", "timeout": "超时 timeout", "skipped": "跳过 skipped",
              "shared": "共用 shared"}

_INDEX_CSS = """
body{margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ddd;padding:.35em .6em;text-align:left}
th{background:#f3f3f3} .ok{color:#2b7a2b} .failed,.timeout{color:#b22;font-weight:bold} .desc{color:#555}
.skipped{color:#8a6d00} .shared{color:#555} code{font-size:90%}
"""


def write_index(out_dir: Path) -> Path:
    """``out_dir/index.html``: every scenario folder with a manifest, its notebooks and files."""
    manifests = []
    for path in sorted(out_dir.glob(f"*/{MANIFEST}")):
        try:
            manifests.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    manifests.sort(key=lambda m: (m.get("scenario") != "baseline", m.get("scenario", "")))
    e = html.escape
    # the embedded data set is 史河街道's; a report on the user's own register names no place
    place = "史河街道" if all(m.get("data", {}).get("embedded", True) for m in manifests) else ""
    parts = ["<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
             f"<title>{place}网格化服务管理 模拟报告 (gridsim reports)</title>",
             f"<style>{_INDEX_CSS}</style></head><body>",
             f"<h1>{place}网格化服务管理 模拟报告<br><small>gridsim reports</small></h1>",
             f"<p>共 {len(manifests)} 个情景 ({len(manifests)} scenario(s))。每个笔记本有两种格式："
             "HTML（供阅读，不含代码）与 .ipynb（含代码与输出，可在 JupyterLab 中打开）。</p>"]
    if interactive_apps() & {p.name for p in NOTEBOOK_DIR.glob("*.ipynb")}:
        parts.append("<p>网格调整编辑器（交互式，不在静态报告中）：在仓库目录运行 "
                     "<code>python -m gridsim.editor.serve</code> 后在浏览器中打开。"
                     " The interactive grid editor is an app, not a report page: run "
                     "<code>python -m gridsim.editor.serve</code>.</p>")
    for m in manifests:
        sid = m["scenario"]
        parts.append(f'<h2 id="{e(sid)}">{e(m.get("title", sid))} <small>({e(sid)})</small></h2>')
        if m.get("description"):
            parts.append(f'<p class="desc">{e(m["description"])}</p>')
        if m.get("data", {}).get("text"):
            parts.append(f'<p class="desc">{e(m["data"]["text"])}</p>')
        if m.get("plan"):
            p = m["plan"]
            parts.append(f"<p>网格方案 plan：<code>{e(p.get('plan_id', ''))}</code>（{e(str(p.get('grids', '')))} 个网格 grids，"
                         f"优化 {e(str(p.get('seconds', '')))} s）；各页均读此方案 (every page reads this plan)</p>")
        parts.append("<table><tr><th>笔记本 notebook</th><th>阅读 read</th><th>笔记本文件 notebook file</th>"
                     "<th>状态 status</th><th>用时 time (s)</th><th>方案编号 plan id</th></tr>")
        for r in m.get("notebooks", []):
            read = f'<a href="{e(sid)}/{e(r["html"])}">HTML</a>' if r.get("html") else "—"
            raw = f'<a href="{e(sid)}/{e(r["ipynb"])}">{e(r["ipynb"])}</a>' if r.get("ipynb") else "—"
            status = e(_STATUS_ZH.get(r["status"], r["status"]))
            if r.get("reads") is not None:  # the parameters the page read: what sharing it was decided on
                status = (f'<span title="{e("本页读取的参数 parameters read: " + ", ".join(r["reads"]))}">'
                          f"{status}</span>")
            if r.get("message"):
                status += f"<br><small>{e(r['message'])}</small>"
            parts.append(f'<tr><td>{e(r.get("title") or r["notebook"])}</td><td>{read}</td><td>{raw}</td>'
                         f'<td class="{e(r["status"])}">{status}</td><td>{r.get("seconds", "")}</td>'
                         f'<td><code>{e(r.get("plan_id", ""))}</code></td></tr>')
        parts.append("</table>")
        total = sum(float(r.get("seconds") or 0) for r in m.get("notebooks", []))
        run = f"；整次运行 whole run {m['run_seconds']} s" if m.get("run_seconds") is not None else ""
        parts.append(f'<p class="desc"><small>页面用时合计 pages total {total:.1f} s{e(run)}</small></p>')
        if m.get("files"):
            links = ", ".join(f'<a href="{e(sid)}/{e(f)}">{e(f)}</a>' for f in m["files"])
            parts.append(f"<p>文件 files: {links}</p>")
        parts.append(f'<p class="desc"><small>生成于 generated {e(m.get("generated", ""))}, gridsim {e(m.get("gridsim", ""))}</small></p>')
    parts.append("</body></html>")
    index = out_dir / INDEX
    index.write_text(_with_font("\n".join(parts)), encoding="utf-8")
    return index


# ---------------------------------------------------------------------------------------------------
# The whole run


def read_inputs(extra: Mapping[str, Any]):
    """The data the pages will read (:func:`gridsim.report_inputs.load_inputs`), checked before any page runs."""
    from .report_inputs import load_inputs

    return load_inputs(extra.get("homes_path", ""), units_path=extra.get("units_path", ""),
                       barriers_path=extra.get("barriers_path", ""), cases_path=extra.get("cases_path", ""),
                       current=extra.get("current", ""), crs=extra.get("crs") or None)


def _partition_into_cache(homes, graph, scenario: str, overrides: dict, seed: int, limit, cache_dir: str) -> None:
    """Partition for one scenario (with ``overrides``) into the plan cache; run in a worker process (a
    Policy does not pickle, so the worker loads it by name)."""
    from .policy import load_policy
    from .scenario_plan import scenario_plan

    policy = load_policy(scenario)
    scenario_plan(homes, graph, policy.with_overrides(overrides) if overrides else policy, seed=seed,
                  time_limit=limit, cache_dir=cache_dir)


def prepare_plans(names, policies, out_dir: Path, extra: Mapping[str, Any], jobs: int = 1):
    """Partition once per scenario (through the cache in ``out_dir/.plan-cache``) and store each plan in
    ``out_dir/<scenario>/plan/``; returns per scenario its plan id, grids and seconds (or the error).

    Besides the scenario's plan, the plan under the other reading of a village's 户 (三(一)2), which the
    partition and budget pages set beside it, goes into the cache. Plans missing from the cache are made
    first, each distinct one once (scenarios that change only pay or assessment share the baseline's grid
    rules and so its plan), ``jobs`` at a time in worker processes; then every scenario's plan is read from
    the cache and stored in its folder."""
    from .graph import build_graph
    from .scenario_plan import fingerprint, plan_key, save_plan, scenario_plan, stored_key

    inputs = read_inputs(extra)
    graph = build_graph(inputs.homes, inputs.barriers)
    seed, limit = int(extra.get("seed", 0)), extra.get("time_limit", DEFAULT_TIME_LIMIT_S)
    cache = out_dir / PLAN_CACHE
    missing = {}
    for name, policy in zip(names, policies):
        basis = policy["grid.village.count_basis"]
        other = {"houses": "registered_households", "registered_households": "houses"}[basis]
        for overrides in ({}, {"grid.village.count_basis": other}):
            pol = policy.with_overrides(overrides) if overrides else policy
            key = plan_key(inputs.homes, graph, pol, seed=seed, time_limit=limit)
            if stored_key(cache / key[:20]) != key:
                missing.setdefault(key, (name, overrides))
    start = time.perf_counter()
    if missing:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max(1, min(jobs, len(missing))), mp_context=spawn) as pool:
            for fut in [pool.submit(_partition_into_cache, inputs.homes, graph, name, overrides, seed, limit, str(cache))
                        for name, overrides in missing.values()]:
                fut.result()
    made = round(time.perf_counter() - start, 1)
    done = {}
    for policy in policies:
        scen = policy.scenario
        result, _ = scenario_plan(inputs.homes, graph, policy, seed=seed, time_limit=limit, cache_dir=cache)
        save_plan(result, out_dir / scen.id / PLAN_DIR, plan_key(inputs.homes, graph, policy, seed=seed,
                                                                 time_limit=limit))
        done[scen.id] = {"plan_id": fingerprint(result.plan), "grids": result.plan.n_grids(),
                         "seconds": round(result.seconds, 1)}
    return done, inputs, (len(missing), made)


def run_reports(scenarios: Iterable[str], out_dir: Path | str, *, notebooks: Iterable[str] | None = None,
                parameters: Mapping[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                jobs: int | None = None, progress: bool = True, notebook_dir: Path | None = None,
                rerun: bool = False) -> ReportSummary:
    """Run the suite for each scenario into ``out_dir/<scenario>/`` and write ``out_dir/index.html``.

    Unknown scenarios are refused before anything runs. ``parameters`` are passed to every notebook that
    declares them (e.g. ``{"draws": 50}`` for a quick run; ``homes_path``, ``units_path``,
    ``barriers_path``, ``cases_path``, ``current`` for the user's own data, read and checked here before
    any notebook runs). When the suite takes a ``plan_path``, each scenario is partitioned once, before the
    notebooks, and every page of it reads that plan (:mod:`gridsim.scenario_plan`). A page whose declared
    needs (metadata ``gridsim.needs``) the data does not meet is skipped and the index says why. ``jobs``
    notebooks run at once (default: the number of CPUs, at most 4). ``notebook_dir`` replaces the shipped
    suite (for tests). Each notebook's time is printed as it finishes and recorded in the index. A page
    whose inputs are unchanged since the last run in ``out_dir`` (:mod:`gridsim.page_key`) is kept as it is,
    unless ``rerun``.
    """
    from tqdm.auto import tqdm

    from .policy import load_policy

    names = list(dict.fromkeys(scenarios))
    policies = [load_policy(s) for s in names]
    scen_objs = [p.scenario for p in policies]
    if not scen_objs:
        raise GridsimError("未选择情景 (no scenario selected)")
    paths = suite(notebooks, notebook_dir)
    out_dir = Path(out_dir).resolve()
    extra = dict(parameters or {})  # REPORT_DEFAULTS are applied per page (_parameters_for)
    extra.setdefault("time_limit", DEFAULT_TIME_LIMIT_S)  # the same limit on every page, so the plan keys agree
    # the lanes already fill the cores: a page's own Dask cluster (07) would only add its start-up and imports
    extra.setdefault("in_process", True)
    extra.setdefault("plan_cache", str(out_dir / PLAN_CACHE))  # other plans a page needs (variants, readings)
    extra.setdefault("result_cache", str(out_dir / RESULT_CACHE))  # money once per scenario; 06/07 once per inputs
    for scen in scen_objs:
        (out_dir / scen.id).mkdir(parents=True, exist_ok=True)
    started = time.time()
    t0 = time.perf_counter()
    plans, inputs = {}, None
    if any("plan_path" in declared_parameters(p) for p in paths):
        plans, inputs, (made, seconds) = prepare_plans(names, policies, out_dir, extra, jobs or _default_jobs())
        _say(progress, f"网格方案 plans: 新算 {made} 个 made，{seconds:.1f} s（其余读自缓存 the others from the cache）")
        for sid, info in plans.items():
            _say(progress, f"网格方案 plan {sid}: {info['plan_id']}，{info['grids']} 个网格 grids（优化用时 "
                           f"optimizer {info['seconds']:.1f} s）")
    elif any(extra.get(k) for k in INPUT_PARAMETERS):
        inputs = read_inputs(extra)
    notebook_of = {src.stem: nbformat.read(src, as_version=4) for src in paths}  # each read once
    skips = {}
    for src in paths:
        needs = page_needs(notebook_of[src.stem])
        if inputs is not None and needs:
            from .report_inputs import missing_inputs

            skips[src.stem] = missing_inputs(needs, has_current=inputs.has_current, has_cases=inputs.cases is not None,
                                             has_units=not inputs.units_drawn)
    host = report_host([s.id for s in scen_objs])
    scopes = {src.stem: page_scope(notebook_of[src.stem]) for src in paths}
    sharing = PageSharing(host, dict(zip(names, policies)), {sid: info.get("plan_id") for sid, info in plans.items()},
                          [src.stem for src in paths if page_shares_by_reads(notebook_of[src.stem])])
    results: list[NotebookResult] = []
    pages: list[_Page] = []
    for scen in scen_objs:
        for src in paths:
            title = notebook_title(notebook_of[src.stem], src.stem)
            page = _Page(src, scen.id, out_dir / scen.id, title, skips.get(src.stem) or [],
                         page_writes(notebook_of[src.stem]))
            if page.skip or (scopes[src.stem] == "report" and scen.id != host):
                _remove_stale(page)
                results.append(NotebookResult(scen.id, src.stem, title, "skipped", 0.0, "；".join(page.skip))
                               if page.skip else shared_result(page, host))
            else:
                pages.append(page)
    from .page_key import data_digest, page_key

    kept: list[tuple[_Page, NotebookResult]] = []  # pages unchanged since the last run (keys made even on rerun)
    data, policy_of = data_digest(extra), dict(zip(names, policies))
    previous = {scen.id: _previous_results(out_dir / scen.id) for scen in scen_objs}
    for page in pages:
        page.parameters = _parameters_for(page.src, page.scenario, page.scen_dir, extra)
        page.key = page_key(page.src, page.parameters, policy_of[page.scenario], data=data,
                            plan=(plans.get(page.scenario) or {}).get("plan_id"))
        res = None if rerun else kept_page(page, previous[page.scenario].get(page.src.stem))
        if res is not None:
            kept.append((page, res))
    pages = [p for p in pages if all(p is not k for k, _ in kept)]
    results += [res for _, res in kept]
    jobs = max(1, min(jobs or _default_jobs(), len(pages) or 1))
    # The host's pages first (other scenarios may share them: PageSharing), then longest first (by the last
    # run's times; unknown ones first of all, pages across scenarios — the longest — before the others), so
    # the lanes finish together. Pages another scenario may share wait, held, until the host's copy is done.
    last = {(sid, nb): float(r["seconds"]) for sid, entries in previous.items() for nb, r in entries.items()
            if isinstance(r.get("seconds"), (int, float))}
    todo = _PageQueue(host, last, scopes)
    for page in pages:
        sharing.hold(page) if sharing.waits(page) else todo.put(page)
    remaining = [len(pages)]  # pages not yet run or shared; at 0 every lane is told to stop
    lock = threading.Lock()
    spawn = multiprocessing.get_context("spawn")  # no fork of a threaded process
    with ProcessPoolExecutor(jobs, mp_context=spawn) as html_pool, \
            tqdm(total=len(pages), desc="报告 report", unit="nb", disable=not progress) as bar:

        def record(res: NotebookResult) -> None:
            with lock:
                results.append(res)
                bar.set_postfix_str(f"{res.scenario}/{res.notebook} {res.status}")
                bar.update()
                line = f"{res.scenario}/{res.notebook}: {_STATUS_ZH.get(res.status, res.status)} {res.seconds:.1f} s"
                bar.write(line + (f" — {res.message}" if res.message else "")) if progress else None

        def finished(n: int) -> None:
            with lock:
                remaining[0] -= n
                if remaining[0] == 0:
                    for _ in range(jobs):
                        todo.put(None)

        def done(page, status, message, seconds, future, reads) -> None:
            shared: list[NotebookResult] = []
            try:
                if page.scenario == host and page.src.stem in sharing.stems:
                    dst = page.scen_dir / page.src.name
                    ids = printed_plan_ids(dst) if dst.exists() else ("", "")
                    made = NotebookResult(page.scenario, page.src.stem, page.title, status, 0.0, message, "", "", *ids)
                    with lock:
                        shared, run = sharing.release(page, made, reads)
                    for res in shared:
                        record(res)
                    for held in run:
                        todo.put(held)
                kept = reads if page.src.stem in sharing.stems else None  # what decided the sharing, on record
                if future is None:
                    record(_finish(page, status, message, seconds, None, kept))
                else:
                    future.add_done_callback(lambda f: record(_finish(page, status, message, seconds, f, kept)))
            finally:
                finished(1 + len(shared))  # even if recording failed, the lanes must learn when all is done

        for page, res in kept:  # a host's page kept from the last run decides its held copies now
            if page.scenario == host and page.src.stem in sharing.stems:
                with lock:
                    shared, run = sharing.release(page, res, res.reads)
                for r in shared:
                    record(r)
                for held in run:
                    todo.put(held)
                finished(len(shared))
        finished(0)  # nothing to run at all: the lanes stop at once
        with ThreadPoolExecutor(max_workers=jobs) as lanes:
            for fut in [lanes.submit(_lane, todo, extra, timeout, html_pool, done) for _ in range(jobs)]:
                fut.result()
        html_pool.shutdown(wait=True)  # every page's HTML written and its result recorded
    order = {(scen.id, src.stem): i for i, (scen, src) in enumerate((s, p) for s in scen_objs for p in paths)}
    results.sort(key=lambda r: order[(r.scenario, r.notebook)])
    wall = round(time.perf_counter() - t0, 1)
    for scen in scen_objs:
        collect_workbooks(out_dir / scen.id, started)
        collect_pdfs(out_dir / scen.id, started)
        _write_manifest(out_dir / scen.id, scen, [r for r in results if r.scenario == scen.id],
                        plan=plans.get(scen.id), run_seconds=wall,
                        data=None if inputs is None else {"embedded": inputs.embedded, "text": inputs.describe()})
    _say(progress, f"用时 time: {wall:.1f} s（{len(scen_objs)} 个情景 scenario(s)，{len(results)} 个页面 pages）")
    if extra.get("result_cache"):
        from .result_cache import prune

        removed, freed = prune(extra["result_cache"])
        if removed:
            _say(progress, f"结果缓存 result cache: 删除最久未用的 {removed} 项 (removed the least recently used), "
                           f"{freed / 1e6:.0f} MB")
    if extra.get("plan_cache"):
        from .scenario_plan import prune_plan_cache

        removed, freed = prune_plan_cache(extra["plan_cache"])
        if removed:
            _say(progress, f"网格方案缓存 plan cache: 删除最久未用的 {removed} 项 (removed the least recently used), "
                           f"{freed / 1e6:.0f} MB")
    return ReportSummary(results, write_index(out_dir), wall)


def _default_jobs() -> int:
    return min(os.cpu_count() or 1, 4)


def _say(progress: bool, line: str) -> None:
    if progress:
        print(line, flush=True)


# ---------------------------------------------------------------------------------------------------
# Keeping the stored outputs nbval checks strictly


def store_checked_outputs(path: Path, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """Execute a notebook with its default parameters and store outputs only for ``# NBVAL_CHECK_OUTPUT`` cells.

    nbval (lax mode) compares those cells' fresh outputs against the stored ones, so after changing a
    checked cell or the data this refreshes the reference; every other cell is saved without outputs to
    keep the repository small. Returns the number of checked cells.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _kernel_env()["PYTHONPATH"]
    try:
        NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_path
    checked = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECK_MARK in cell.source:
            checked += 1  # nbval needs the execution count to know the stored output is a real run
        else:
            cell.execution_count = None
            cell.outputs = []
    nbformat.write(nb, path)
    return checked
