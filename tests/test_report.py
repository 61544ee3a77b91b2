"""The report runner: papermill per notebook, HTML without code, index, failures named, timeouts, exit code."""

from __future__ import annotations

import ast
import json
import os
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gridsim import cli, report
from gridsim.errors import GridsimError


def write_notebook(path, *cells, params="scenario: str = 'baseline'  # 情景"):
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells.append(new_markdown_cell(f"# 标题 {path.stem}"))
    nb.cells.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    nb.cells += [new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def toy_suite(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_ok.ipynb", "SECRET_CODE = 41 + 1\nprint('场景', scenario, draws, SECRET_CODE)",
                   params="scenario: str = 'baseline'  # 情景\ndraws: int = 1000  # 次数")
    write_notebook(d / "02_fails.ipynb", "raise ValueError('坏数据 bad data')")
    write_notebook(d / "03_also_ok.ipynb", "print('ok', scenario)")
    return d


def outputs_text(path):
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_failure_is_named_and_the_others_still_run(toy_suite, tmp_path):
    out = tmp_path / "out"
    summary = report.run_reports(["baseline", "pay_per_full_100"], out, notebook_dir=toy_suite,
                                 parameters={"draws": 7, "unused": 1}, progress=False, jobs=2)
    assert len(summary.results) == 6
    failed = {(r.scenario, r.notebook) for r in summary.failed}
    assert failed == {("baseline", "02_fails"), ("pay_per_full_100", "02_fails")}
    assert all("ValueError" in r.message and "坏数据" in r.message for r in summary.failed)
    for scen in ("baseline", "pay_per_full_100"):
        d = out / scen
        for stem in ("01_ok", "02_fails", "03_also_ok"):
            assert nbformat.read(d / f"{stem}.ipynb", as_version=4).cells  # opens
            assert (d / f"{stem}.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        # parameters reach the notebook that declares them; undeclared ones are not injected
        assert f"场景 {scen} 7 42" in outputs_text(d / "01_ok.ipynb")
        assert "unused" not in json.dumps(nbformat.read(d / "03_also_ok.ipynb", as_version=4).cells[2].source)
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        assert [n["status"] for n in manifest["notebooks"]] == ["ok", "failed", "ok"]
    html_text = (out / "baseline" / "01_ok.html").read_text(encoding="utf-8")
    assert "SECRET_CODE = 41" not in html_text  # code hidden
    assert "场景 baseline 7 42" in html_text  # output shown
    index = summary.index.read_text(encoding="utf-8")
    for link in ("baseline/01_ok.html", "baseline/02_fails.ipynb", "pay_per_full_100/03_also_ok.html"):
        assert f'href="{link}"' in index
    assert "失败 failed" in index


def test_timeout_stops_the_notebook(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_slow.ipynb", "import time\ntime.sleep(120)")
    summary = report.run_reports(["baseline"], tmp_path / "out", notebook_dir=d, timeout=5, progress=False)
    (res,) = summary.results
    assert res.status == "timeout" and res.seconds < 60


def test_cli_exits_non_zero_when_a_notebook_fails(toy_suite, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "NOTEBOOK_DIR", toy_suite)
    code = cli.main(["report", "--out", str(tmp_path / "out"), "--notebook", "02", "--notebook", "03",
                     "--no-progress"])
    assert code == 1
    assert "02_fails" in capsys.readouterr().out
    assert cli.main(["report", "--out", str(tmp_path / "out"), "--notebook", "03", "--no-progress"]) == 0
    # the index still lists the notebook run earlier
    assert 'href="baseline/02_fails.html"' in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


def test_unknown_scenario_or_notebook_is_refused_before_running(tmp_path, toy_suite):
    with pytest.raises(GridsimError, match="scenario not found"):
        report.run_reports(["no_such_scenario"], tmp_path / "out", notebook_dir=toy_suite, progress=False)
    with pytest.raises(GridsimError, match="notebook not found"):
        report.suite(["99"], toy_suite)
    assert not (tmp_path / "out").exists()
    assert cli.main(["report", "--out", str(tmp_path / "o"), "-p", "no equals sign"]) == 2


def test_shipped_suite_has_one_typed_parameters_cell_each():
    for path in report.suite():
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        params = report.declared_parameters(path)
        assert ast.literal_eval(params.get("scenario", "None")) == "baseline", path.name
        for line in tagged[0].source.splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                assert ":" in line.split("=")[0] and "#" in line, f"{path.name}: untyped or uncommented: {line}"
        assert all(c.outputs == [] or "# NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells if c.cell_type == "code")
    # the grid editor is an interactive app (Voila), not a report page
    assert not set(report.interactive_apps()) & {p.name for p in report.suite()}


def test_workbooks_written_by_a_notebook_are_copied_beside_it(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_book.ipynb",
                   "from pathlib import Path\nimport pandas as pd\n"
                   "p = Path(output_dir) / 'budget'\np.mkdir(parents=True, exist_ok=True)\n"
                   "pd.DataFrame({'a': [1]}).to_excel(p / 'budget.xlsx', index=False)\n"
                   "pd.DataFrame({'a': [1]}).to_csv(p / 'summary.csv', index=False)",
                   params="scenario: str = 'baseline'  # 情景\noutput_dir: str = ''  # 输出目录")
    out = tmp_path / "out"
    summary = report.run_reports(["baseline"], out, notebook_dir=d, progress=False)
    assert summary.results[0].ok, summary.results[0].message
    book = out / "baseline" / "budget.xlsx"
    import pandas as pd

    assert pd.read_excel(book)["a"].tolist() == [1]
    manifest = json.loads((out / "baseline" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"] == ["budget.xlsx", "files/budget/summary.csv"]
    assert 'href="baseline/budget.xlsx"' in summary.index.read_text(encoding="utf-8")
    # a stale workbook (older than the run) is not copied again
    book.unlink()
    assert report.collect_workbooks(out / "baseline", since=book.parent.stat().st_mtime + 3600) == []


def test_store_checked_outputs_keeps_only_strictly_checked_cells(tmp_path):
    path = write_notebook(tmp_path / "01_x.ipynb", "# NBVAL_CHECK_OUTPUT\nprint('保留 kept', 6 * 7)",
                          "print('丢弃 dropped')")
    assert report.store_checked_outputs(path) == 1
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    checked, other = cells[1], cells[2]
    assert checked.execution_count is not None  # nbval only compares cells that were run
    assert "".join(o.get("text", "") for o in checked.outputs) == "保留 kept 42\n"
    assert other.outputs == [] and other.execution_count is None
    assert cells[0].outputs == []


def test_budget_notebook_runs_with_small_parameters_and_leaves_the_workbook(tmp_path):
    import openpyxl

    summary = report.run_reports(["baseline"], tmp_path, notebooks=["04"], progress=False,
                                 parameters={"draws": 50, "time_limit": 30})
    (res,) = summary.results
    assert res.ok, res.message
    d = tmp_path / "baseline"
    nb = nbformat.read(d / "04_budget.ipynb", as_version=4)
    assert "draws = 50" in nb.cells[2].source  # papermill's injected parameters
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    for name in ("budget.xlsx", "budget_today.xlsx"):
        book = openpyxl.load_workbook(d / name, read_only=True)
        assert "参数" in book.sheetnames and "汇总" in book.sheetnames
    html_text = (d / "04_budget.html").read_text(encoding="utf-8")
    assert "扇形图" in html_text and "simulate_budget(" not in html_text
    assert 'href="baseline/budget.xlsx"' in summary.index.read_text(encoding="utf-8")


def test_html_pages_carry_a_font_with_every_chinese_character_they_use(tmp_path):
    import base64
    import io
    import re

    from fontTools.ttLib import TTFont

    page = "<html><head><title>t</title></head><body><h1>史河街道 经费需求（万元）</h1><p>网格员走访：五必访</p></body></html>"
    out = report._with_font(page)
    assert out.index("@font-face") < out.index("</head>")
    data = re.search(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", out).group(1)
    cmap = TTFont(io.BytesIO(base64.b64decode(data))).getBestCmap()
    needed = {ch for ch in "史河街道经费需求（万元）网格员走访：五必访"}
    assert all(ord(ch) in cmap for ch in needed)
    assert ord("鬱") not in cmap  # cut down to the page's characters, not the whole font


def test_font_cut_is_stored_by_the_characters_of_the_page(tmp_path):
    """A page with the same characters gets the stored cut (same bytes); one more character, a new cut."""
    import base64
    import io
    import re

    from fontTools.ttLib import TTFont

    page = "<html><head></head><body><h1>网格经费</h1><p>走访 %s</p></body></html>"
    first = report._with_font(page % "一")
    assert report._with_font(page % "一", tmp_path) == first  # computed and stored: the page is unchanged
    assert len(list(tmp_path.glob("font-*.pkl"))) == 1
    assert report._with_font(page % "一", tmp_path) == first and len(list(tmp_path.glob("font-*.pkl"))) == 1
    more = report._with_font(page % "鬱", tmp_path)
    assert len(list(tmp_path.glob("font-*.pkl"))) == 2
    data = re.search(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", more).group(1)
    assert ord("鬱") in TTFont(io.BytesIO(base64.b64decode(data))).getBestCmap()


def test_pages_made_of_the_package_s_text_share_one_font_cut(tmp_path):
    """Two pages with different characters, all from the package's own text, ask for the same cut: one
    stored copy, the same bytes, covering characters neither page has."""
    import io

    from fontTools.ttLib import TTFont

    from gridsim import webfont

    first = report._with_font("<html><head></head><body><h1>网格经费</h1></body></html>", tmp_path)
    second = report._with_font("<html><head></head><body><p>走访户次 (visits)</p></body></html>", tmp_path)
    assert len(list(tmp_path.glob("font-*.pkl"))) == 1
    font = webfont.embedded_font_bytes(first)
    assert font == webfont.embedded_font_bytes(second)
    cmap = TTFont(io.BytesIO(font)).getBestCmap()
    assert ord("街") in cmap and "街" in webfont.package_characters()  # on neither page: from the package
    assert ord("鬱") not in cmap  # still a cut, not the whole font
    own = report._with_font("<html><head></head><body><p>鬱</p></body></html>", tmp_path)
    assert len(list(tmp_path.glob("font-*.pkl"))) == 2 and ord("鬱") in TTFont(
        io.BytesIO(webfont.embedded_font_bytes(own))).getBestCmap()


def test_page_font_comes_first_for_non_ascii_on_every_text_element():
    from gridsim import webfont

    page = ('<html><head></head><body><h1 title="提示">标题</h1><th>表&#22836;</th>'
            '<script>var s = {"label": "\\u7ecf\\u8d39"};</script><img src="data:image/png;base64,5Lit5paH"></body></html>')
    chars = webfont.page_characters(page)
    assert {"提", "示", "标", "题", "表", "头", "经", "费"} <= chars  # titles, entities, JSON escapes
    assert not any(ord(c) < 128 for c in chars)
    css = report._with_font(page)
    assert 'unicode-range:U+0080-10FFFF' in css  # ASCII stays with the reader's own fonts
    for rule in re.findall(r"font-family:([^;!}]+)", css.split("@font-face", 1)[1].split("}", 1)[1]):
        assert rule.strip().startswith('"gridsim CJK"'), rule
    assert re.search(r":is\([^)]*\bh1\b[^)]*\bth\b[^)]*\)", css) and ":is(pre," in css


def test_summary_pdf_is_copied_beside_the_pages_and_an_old_one_removed(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "00_pdf.ipynb",
                   "from pathlib import Path\nimport os\n"
                   "if os.environ.get('GRIDSIM_TEST_NO_PDF') != '1':\n"
                   "    Path(output_dir).mkdir(parents=True, exist_ok=True)\n"
                   "    (Path(output_dir) / 'summary.pdf').write_bytes(b'%PDF-1.4 test')\n"
                   "print('方案编号 plan id: 0123456789ab')\nprint(\"现状方案编号 today's plan id: ba9876543210\")",
                   params="scenario: str = 'baseline'  # 情景\noutput_dir: str = ''  # 输出目录")
    out = tmp_path / "out"
    summary = report.run_reports(["baseline"], out, notebook_dir=d, progress=False)
    res = summary.results[0]
    assert res.ok and (res.plan_id, res.today_id) == ("0123456789ab", "ba9876543210")
    assert (out / "baseline" / "summary.pdf").read_bytes() == b"%PDF-1.4 test"
    index = summary.index.read_text(encoding="utf-8")
    assert 'href="baseline/summary.pdf"' in index and "0123456789ab" in index
    os.environ["GRIDSIM_TEST_NO_PDF"] = "1"  # the kernel inherits it: this run writes no PDF
    try:
        (out / "baseline" / report.FILES_DIR / "summary.pdf").unlink()
        report.run_reports(["baseline"], out, notebook_dir=d, progress=False)
    finally:
        del os.environ["GRIDSIM_TEST_NO_PDF"]
    assert not (out / "baseline" / "summary.pdf").exists()  # never last run's summary looking current


def test_pages_share_a_warm_kernel_but_not_their_names(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_sets.ipynb", "import os\nLEAK = 41\nprint('pid', os.getpid(), 'cwd', os.getcwd())")
    write_notebook(d / "02_reads.ipynb", "import os\nprint('pid', os.getpid(), 'cwd', os.getcwd())\n"
                                         "print('leak' if 'LEAK' in globals() else 'clean')\n"
                                         "import multiprocessing as mp\n"  # spawn reads __main__.__spec__ (Dask does)
                                         "child = mp.get_context('spawn').Process(target=print)\n"
                                         "child.start(); child.join(); print('spawned', child.exitcode)")
    out = tmp_path / "out"
    summary = report.run_reports(["baseline", "pay_per_full_100"], out, notebook_dir=d, progress=False, jobs=1)
    assert all(r.status == "ok" for r in summary.results), summary.results
    pids, cwds = set(), set()
    for scen in ("baseline", "pay_per_full_100"):
        for stem in ("01_sets", "02_reads"):
            text = outputs_text(out / scen / f"{stem}.ipynb")
            pids.add(re.search(r"pid (\d+)", text).group(1))
            assert re.search(r"cwd (\S+)", text).group(1) == str(out / scen)  # each page in its scenario's folder
        assert "clean" in outputs_text(out / scen / "02_reads.ipynb")  # a page starts from an empty namespace
        assert "spawned 0" in outputs_text(out / scen / "02_reads.ipynb")
    assert len(pids) == 1  # one lane: one kernel ran all four pages
    # the reset cell the runner adds is not part of the stored page
    assert [c.source for c in nbformat.read(out / "baseline" / "01_sets.ipynb", as_version=4).cells][0].startswith("# 标题")


def test_a_page_across_scenarios_runs_once_and_the_other_scenarios_link_to_it(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_own.ipynb", "print('own', scenario)")
    path = write_notebook(d / "06_across.ipynb", "print('across', scenario)")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["gridsim"] = {"scope": "report"}
    nbformat.write(nb, path)
    out = tmp_path / "out"
    other = out / "pay_per_full_100"
    other.mkdir(parents=True)
    (other / "06_across.html").write_text("old", encoding="utf-8")  # an earlier run's own copy
    summary = report.run_reports(["pay_per_full_100", "baseline"], out, notebook_dir=d, progress=False, jobs=2)
    by = {(r.scenario, r.notebook): r for r in summary.results}
    assert by[("baseline", "06_across")].status == "ok"  # made for the baseline, though listed second
    shared = by[("pay_per_full_100", "06_across")]
    assert shared.status == "shared" and shared.ok and "baseline" in shared.message
    assert (other / shared.html).resolve() == (out / "baseline" / "06_across.html").resolve()
    assert not (other / "06_across.html").exists() and not (other / "06_across.ipynb").exists()
    assert "across baseline" in outputs_text(out / "baseline" / "06_across.ipynb")
    assert by[("pay_per_full_100", "01_own")].status == "ok"
    manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    assert {n["notebook"]: n["status"] for n in manifest["notebooks"]} == {"01_own": "ok", "06_across": "shared"}
    index = summary.index.read_text(encoding="utf-8")
    assert 'href="pay_per_full_100/../baseline/06_across.html"' in index and "共用 shared" in index
    # without the baseline in the run, the page is made for the first scenario
    alone = report.run_reports(["pay_per_full_100"], tmp_path / "alone", notebook_dir=d, progress=False)
    assert {r.notebook: r.status for r in alone.results} == {"01_own": "ok", "06_across": "ok"}


def test_a_linked_page_leaves_none_of_its_earlier_own_files(tmp_path):
    """A scenario's page made by itself last time, linked to the host's this time: its notebook, HTML, the
    files it published (``gridsim.writes``) and their copy beside the pages are gone, and not listed."""
    d = tmp_path / "nbs"
    d.mkdir()
    path = write_notebook(d / "07_across.ipynb",
                          "from pathlib import Path\nout = Path(output_dir) / 'sens'\nout.mkdir(parents=True, exist_ok=True)\n"
                          "(out / 'budget.xlsx').write_bytes(b'x')\n(out / 'grids.csv').write_text('a')",
                          params="scenario: str = 'baseline'  # 情景\noutput_dir: str = ''  # 输出")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["gridsim"] = {"scope": "report", "writes": ["sens"]}
    nbformat.write(nb, path)
    out = tmp_path / "out"
    alone = report.run_reports(["pay_per_full_100"], out, notebook_dir=d, progress=False)
    other = out / "pay_per_full_100"
    assert not alone.failed and (other / "sens.xlsx").exists() and (other / "files" / "sens" / "grids.csv").exists()
    both = report.run_reports(["pay_per_full_100", "baseline"], out, notebook_dir=d, progress=False, jobs=2)
    assert {(r.scenario, r.status) for r in both.results} == {("baseline", "ok"), ("pay_per_full_100", "shared")}
    assert not (other / "files" / "sens").exists() and not (other / "sens.xlsx").exists()
    assert not (other / "07_across.ipynb").exists() and (out / "baseline" / "sens.xlsx").exists()
    manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    assert not any("sens" in f for f in manifest["files"])


def test_page_writes_must_be_plain_names_under_files():
    nb = nbformat.v4.new_notebook(metadata={"gridsim": {"writes": ["../plan"]}})
    with pytest.raises(GridsimError, match="gridsim.writes"):
        report.page_writes(nb)
    assert report.page_writes(nbformat.v4.new_notebook()) == []


def test_report_defaults_only_lower_a_pages_own_default(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_many.ipynb", "print('draws', draws)", params="scenario: str = 'baseline'\ndraws: int = 1000")
    write_notebook(d / "02_few.ipynb", "print('draws', draws)", params="scenario: str = 'baseline'\ndraws: int = 30")
    out = tmp_path / "out"
    report.run_reports(["baseline"], out, notebook_dir=d, progress=False)
    assert f"draws {report.REPORT_DEFAULTS['draws']}" in outputs_text(out / "baseline" / "01_many.ipynb")
    assert "draws 30" in outputs_text(out / "baseline" / "02_few.ipynb")  # never raised by the report default
    report.run_reports(["baseline"], out, notebook_dir=d, progress=False, parameters={"draws": 700})
    assert "draws 700" in outputs_text(out / "baseline" / "02_few.ipynb")  # what the user asks for wins


def _shareable(path):
    nb = nbformat.read(path, as_version=4)
    nb.metadata["gridsim"] = {"share": "reads"}
    nbformat.write(nb, path)
    return path


def test_a_page_is_shared_only_with_scenarios_that_give_it_the_same_values(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    load = "from gridsim.policy import load_policy\npolicy = load_policy(scenario)\nprint('情景', policy.label)\n"
    _shareable(write_notebook(d / "01_cap.ipynb", load + "print('cap', policy['grid.community.max_planned_households'])"))
    _shareable(write_notebook(d / "02_whole.ipynb", load + "print('overrides', dict(policy.scenario.overrides))"))
    _shareable(write_notebook(d / "03_table.ipynb", load + "print(len(policy.table()))"))
    write_notebook(d / "04_own.ipynb", load + "print('cap', policy['grid.community.max_planned_households'])")
    out = tmp_path / "out"
    scenarios = ["pay_per_full_100", "baseline", "community_cap_400"]
    summary = report.run_reports(scenarios, out, notebook_dir=d, progress=False, jobs=2)
    status = {(r.scenario, r.notebook): r.status for r in summary.results}
    assert all(r.ok for r in summary.results), summary.results
    # the cap page reads one parameter: the scenario that leaves it alone shows the baseline's page
    assert status[("baseline", "01_cap")] == "ok" and status[("pay_per_full_100", "01_cap")] == "shared"
    assert status[("community_cap_400", "01_cap")] == "ok"
    assert "cap 400" in outputs_text(out / "community_cap_400" / "01_cap.ipynb")
    shared = next(r for r in summary.results if (r.scenario, r.notebook) == ("pay_per_full_100", "01_cap"))
    assert shared.html == "../baseline/01_cap.html" and "1 个参数" in shared.message
    assert not (out / "pay_per_full_100" / "01_cap.ipynb").exists()
    # a page that reads the scenario itself, or every parameter, is never shared; nor one that did not offer it
    for stem in ("02_whole", "03_table", "04_own"):
        assert status[("pay_per_full_100", stem)] == "ok" and status[("community_cap_400", stem)] == "ok", stem
    assert "pay_per_full_100" in outputs_text(out / "pay_per_full_100" / "02_whole.ipynb")
    # the log cells the runner adds are not part of the stored page
    cells = nbformat.read(out / "baseline" / "01_cap.ipynb", as_version=4).cells
    assert not any(report.READS_MARK in c.get("source", "") or report.READS_MARK in outputs_text_cell(c) for c in cells)
    manifest = json.loads((out / "pay_per_full_100" / "manifest.json").read_text(encoding="utf-8"))
    assert {n["notebook"]: n["status"] for n in manifest["notebooks"]}["01_cap"] == "shared"


def outputs_text_cell(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def _report_of_one_shareable_page(tmp_path, code, scenarios):
    d = tmp_path / "nbs"
    d.mkdir()
    _shareable(write_notebook(d / "01_page.ipynb", code))
    return report.run_reports(scenarios, tmp_path / "out", notebook_dir=d, progress=False, jobs=1)


def test_a_page_that_failed_for_the_host_runs_for_every_scenario(tmp_path):
    summary = _report_of_one_shareable_page(
        tmp_path, "if scenario == 'baseline':\n    raise ValueError('只在基线失败')\nprint('ran', scenario)",
        ["baseline", "pay_per_full_100"])
    status = {(r.scenario, r.notebook): r.status for r in summary.results}
    assert status == {("baseline", "01_page"): "failed", ("pay_per_full_100", "01_page"): "ok"}


def test_shared_pages_use_their_scenario_only_through_the_policy():
    """A page offering to be shared (gridsim.share: reads) may know its scenario only through the Policy, whose
    reads are logged: its `scenario` parameter appears only in `load_policy(scenario)`."""
    from gridsim.paths import NOTEBOOK_DIR

    offered = [p for p in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
               if report.page_shares_by_reads(nbformat.read(p, as_version=4))]
    assert {p.stem for p in offered} >= {"01_data", "02_partition"}
    for path in offered:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
                continue
            tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%")))
            calls = {id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
                     and getattr(node.func, "id", "") == "load_policy" and node.args}
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id == "scenario":
                    assert id(node) in calls, f"{path.name}: uses `scenario` outside load_policy(scenario)"


def test_the_parameters_a_shared_page_read_are_on_record(tmp_path):
    summary = _report_of_one_shareable_page(
        tmp_path, "from gridsim.policy import load_policy\npolicy = load_policy(scenario)\n"
                  "print(policy['grid.village.max_households'], policy['funding.district_share'])",
        ["baseline", "community_cap_400"])
    keys = ["funding.district_share", "grid.village.max_households"]
    assert {r.scenario: (r.status, r.reads) for r in summary.results} == {
        "baseline": ("ok", keys), "community_cap_400": ("shared", keys)}
    index = summary.index.read_text(encoding="utf-8")
    assert "parameters read: funding.district_share, grid.village.max_households" in index


def test_an_unchanged_page_is_kept_and_any_change_makes_it_again(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    load = "from gridsim.policy import load_policy\npolicy = load_policy(scenario)\n"
    _shareable(write_notebook(d / "01_cap.ipynb", load + "print('cap', policy['grid.community.max_planned_households'])"))
    write_notebook(d / "02_draws.ipynb", "print('draws', draws)", params="scenario: str = 'baseline'\ndraws: int = 9")
    write_notebook(d / "03_fails.ipynb", "raise ValueError('坏')")
    out = tmp_path / "out"

    def run(**kw):
        summary = report.run_reports(["baseline", "pay_per_full_100"], out, notebook_dir=d, progress=False, jobs=1, **kw)
        return {(r.scenario, r.notebook): (r.status, r.kept) for r in summary.results}

    first = run()
    assert first[("baseline", "01_cap")] == ("ok", False) and first[("pay_per_full_100", "01_cap")] == ("shared", False)
    page = out / "baseline" / "02_draws.ipynb"
    stamp = page.stat().st_mtime_ns
    second = run()
    assert second[("baseline", "01_cap")] == ("ok", True) and second[("baseline", "02_draws")] == ("ok", True)
    assert second[("pay_per_full_100", "02_draws")] == ("ok", True)
    assert second[("pay_per_full_100", "01_cap")] == ("shared", False)  # decided again from the kept page's reads
    assert second[("baseline", "03_fails")] == ("failed", False)  # a failed page is never kept
    assert page.stat().st_mtime_ns == stamp
    manifest = json.loads((out / "baseline" / "manifest.json").read_text(encoding="utf-8"))
    assert {n["notebook"]: bool(n["key"]) for n in manifest["notebooks"]} == {
        "01_cap": True, "02_draws": True, "03_fails": False}
    # another parameter value: made again
    third = run(parameters={"draws": 5})
    assert third[("baseline", "02_draws")] == ("ok", False) and "draws 5" in outputs_text(page)
    assert third[("baseline", "01_cap")] == ("ok", True)  # it does not declare draws
    # the notebook edited: made again
    write_notebook(d / "01_cap.ipynb", load + "print('cap!', policy['grid.community.max_planned_households'])")
    _shareable(d / "01_cap.ipynb")
    fourth = run(parameters={"draws": 5})
    assert fourth[("baseline", "01_cap")] == ("ok", False) and fourth[("baseline", "02_draws")] == ("ok", True)
    # --rerun makes every page again, and records what it made them from: the next run keeps them
    assert all(not kept for kept in (s for _, s in run(parameters={"draws": 5}, rerun=True).values()))
    assert run(parameters={"draws": 5})[("baseline", "02_draws")] == ("ok", True)


def test_page_key_changes_with_each_input(tmp_path, monkeypatch):
    from gridsim import page_key as pk
    from gridsim.policy import load_policy

    nb = write_notebook(tmp_path / "01_x.ipynb", "print(1)")
    reg = tmp_path / "homes.shp"
    for ext in (".shp", ".dbf", ".prj"):
        reg.with_suffix(ext).write_bytes(b"a" + ext.encode())
    params = {"scenario": "baseline", "homes_path": str(reg)}
    data = pk.data_digest(params)
    base = pk.page_key(nb, params, load_policy(), data=data, plan={"plan_id": "abc"})
    assert base == pk.page_key(nb, dict(params), load_policy(), data=pk.data_digest(params), plan={"plan_id": "abc"})
    reg.with_suffix(".prj").write_bytes(b"other crs")  # a sidecar of the register changed
    assert pk.data_digest(params) != data
    assert pk.data_digest({"scenario": "baseline"}) != data  # the embedded set instead
    variants = [
        pk.page_key(nb, {**params, "draws": 3}, load_policy(), data=data, plan={"plan_id": "abc"}),
        pk.page_key(nb, params, load_policy("community_cap_400"), data=data, plan={"plan_id": "abc"}),
        pk.page_key(nb, params, load_policy(), data=data + "0", plan={"plan_id": "abc"}),
        pk.page_key(nb, params, load_policy(), data=data, plan={"plan_id": "abd"}),
    ]
    nb.write_text(nb.read_text(encoding="utf-8").replace("print(1)", "print(2)"), encoding="utf-8")
    variants.append(pk.page_key(nb, params, load_policy(), data=data, plan={"plan_id": "abc"}))
    monkeypatch.setattr("gridsim.result_cache.code_digest", lambda: "other code")
    variants.append(pk.page_key(nb, params, load_policy(), data=data, plan={"plan_id": "abc"}))
    assert len({base, *variants}) == len(variants) + 1


def test_a_page_reading_the_stored_plan_is_kept_on_a_repeated_run(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "02_plan.ipynb", "print('plan', plan_path.split('/')[-2])",
                   params="scenario: str = 'baseline'\nplan_path: str = ''")
    out = tmp_path / "out"
    for kept in (False, True):
        summary = report.run_reports(["baseline"], out, notebook_dir=d, progress=False, jobs=1)
        (res,) = summary.results
        assert res.status == "ok" and res.kept is kept and ("未变" in res.message) is kept, res


def test_page_queue_hands_out_the_host_first_then_the_longest_known_and_stops_last():
    from pathlib import Path

    def page(scenario, stem):
        return report._Page(Path(f"{stem}.ipynb"), scenario, Path(scenario), stem)

    q = report._PageQueue("baseline", {("b", "05"): 2.0}, {"06": "report"})
    for p in (page("b", "05"), page("b", "04"), page("baseline", "05"), page("baseline", "06")):
        q.put(p)
    q.put(None)  # a stop put early is handed out only when no page is left
    first, second = q.get(), q.get()
    assert (first.scenario, first.src.stem) == ("baseline", "06")  # the host's, across scenarios before its own
    assert (second.scenario, second.src.stem) == ("baseline", "05")
    q.observe(second, 9.0)  # this run: 05 takes 9 s; b's 04 is still unknown, so it runs before b's 05 (2 s last run)
    assert q.get().src.stem == "04"
    q.put(page("c", "05"))  # released late: 05 took 9 s in this run, longer than b's 05's 2 s of the last run
    assert (q.get().scenario, q.get().scenario) == ("c", "b")
    assert q.get() is None


def test_report_kernels_run_blas_on_one_thread_unless_the_user_chose(tmp_path, monkeypatch):
    for name in report.SINGLE_THREAD_BLAS:
        monkeypatch.delenv(name, raising=False)
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_env.ipynb", "import os\nprint('blas', os.environ.get('OPENBLAS_NUM_THREADS'))")
    summary = report.run_reports(["baseline"], tmp_path / "out", notebook_dir=d, progress=False)
    assert not summary.failed and "blas 1" in outputs_text(tmp_path / "out" / "baseline" / "01_env.ipynb")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert report._kernel_env()["OPENBLAS_NUM_THREADS"] == "3" and report._kernel_env()["OMP_NUM_THREADS"] == "1"
