"""The README and docs/ hold together: every relative link and image reaches a file, every #anchor a heading of
its target (GitHub's slugs), the README links every page of docs/ and stays a short user's guide, and
docs/endpoints.md is what ``python -m rest_api_plugin.reference.docs`` prints from the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rest_api_plugin import registry
from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.reference import docs

ROOT = Path(__file__).parent.parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 300

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); the text may hold brackets one level deep, the target an optional "title"
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, https:, mailto:, //host


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with code spans blanked out (`[x](y)` there is no link)."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, CODE_SPAN.sub(lambda m: "code", line)))
    return lines


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link, image, reference definition and HTML href/src."""
    found = []
    for number, line in prose_lines(text):
        for pattern in (INLINE_LINK, REFERENCE_DEFINITION, HTML_LINK):
            found += [(number, match.group(1)) for match in pattern.finditer(line)]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as shown (no code ticks, link targets, emphasis or tags),
    lower-cased, punctuation dropped (letters, digits, '_', '-' and spaces stay), each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a markdown file; a repeated heading gets -1, -2... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    text = path.read_text()
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path.read_text()):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{number}: {target}"
        if not destination.is_file():
            problems.append(f"{where}: no such file")
        elif anchor and destination.suffix != ".md":
            problems.append(f"{where}: an anchor into a file that is not markdown")
        elif anchor and anchor not in anchors(destination):
            problems.append(f"{where}: no heading with this anchor in {destination.name}")
    return problems


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: path.name)
def test_every_relative_link_and_anchor_resolves(path):
    assert not broken_links(path), "\n".join(broken_links(path))


def test_the_readme_links_every_page_of_docs():
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for _, target in links(README.read_text())
        if not EXTERNAL.match(target)
    }
    missing = [page.name for page in PAGES if page.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_readme_is_a_short_users_guide():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move details to a page of docs/ and link it"
    )


def test_endpoint_reference_is_what_the_docs_module_prints():
    """``python -m rest_api_plugin.reference.docs > docs/endpoints.md`` (scripts/generate-docs) wrote the committed file
    from the current registry. It is generated on Airflow 2; on Airflow 3 only the example commands may differ
    (e.g. backfill's is `airflow backfill create` there)."""
    committed = (ROOT / "docs" / "endpoints.md").read_text()
    printed = docs.markdown(registry.ENDPOINTS) + "\n"  # what the module's `print` writes
    if AIRFLOW_3:
        committed, printed = (without_example_commands(text) for text in (committed, printed))
    assert committed == printed, "regenerate: scripts/generate-docs"


def without_example_commands(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("- Shown as `airflow_cmd`"))


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("Quick start", "quick-start"),
        ("Several old clients on one deployment (named tokens)", "several-old-clients-on-one-deployment-named-tokens"),
        ("What `deploy_dag` can do", "what-deploy_dag-can-do"),
        ("The token header behind gunicorn (Airflow 2)", "the-token-header-behind-gunicorn-airflow-2"),
        (
            "DAG-file endpoints: the parse server against a fresh process",
            "dag-file-endpoints-the-parse-server-against-a-fresh-process",
        ),
        ("Coming from plugin 1.0.x / Airflow 1.10", "coming-from-plugin-10x--airflow-110"),
        ("`wait` and `[webserver] workers`", "wait-and-webserver-workers"),
        ("See [the page](page.md) *now*", "see-the-page-now"),
    ],
)
def test_slugs_follow_github(heading, anchor):
    assert slug(heading) == anchor


def test_the_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## A section\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-section) [ok too](other.md#a-section-1) ![ok](other.md) [web](https://example.com)\n"
        "[gone](missing.md) [bad anchor](other.md#nowhere) [self](#title-here)\n"
        "```\n[in a code block](missing.md)\n```\n`[in a code span](missing.md)`\n"
        "# Title here\n"
    )
    problems = broken_links(page)
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "missing.md: no such file",
        "other.md#nowhere: no heading with this anchor in other.md",
    ]
