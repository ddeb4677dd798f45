"""A DAG as a graph: the DOT text ``airflow dags show`` prints, its nodes and edges, and the picture Graphviz's
``dot`` draws of it.

Airflow draws the graph with ``airflow.utils.dot_renderer.render_dag``, which needs the ``graphviz`` Python
package (an optional extra that Airflow does not install). This module writes the same DOT text itself, line
for line as ``graphviz.Digraph`` writes what ``render_dag`` builds: the tasks (label, shape, colors), task
groups as clusters with their join nodes, and the edges (``airflow.utils.dag_edges``) with their labels. The
picture comes from the ``dot`` executable, run as an argument list with the text on its stdin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from rest_api_plugin.errors import Conflict

# graphviz.quoting: a DOT identifier that needs no quotes, the keywords that do, and an HTML-like label
_DOT_ID = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*|-?(\.[0-9]+|[0-9]+(\.[0-9]*)?))$")
_DOT_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}
_HTML_STRING = re.compile(r"<.*>$", re.DOTALL)
_UNESCAPED_QUOTE = re.compile(r'(?P<escaped_backslashes>(?:\\{2})*)\\?(?P<literal_quote>")')

# Seconds `dot` may take to draw one DAG.
DOT_TIMEOUT = 30
INSTALL_GRAPHVIZ = (
    "Drawing the graph needs Graphviz's dot executable, which is not installed on the web "
    "server: install Graphviz there (Debian, Ubuntu: apt-get install graphviz; RHEL: dnf install "
    "graphviz; macOS: brew install graphviz). Without format=svg, the answer holds the DOT text."
)


def quote(identifier: str) -> str:
    """``identifier`` as graphviz writes it: as it is when it is a DOT ID or an HTML-like string, else in double
    quotes with its quotes escaped."""
    if _HTML_STRING.match(identifier):
        return identifier
    if not _DOT_ID.match(identifier) or identifier.lower() in _DOT_KEYWORDS:
        return '"' + _UNESCAPED_QUOTE.sub(r"\g<escaped_backslashes>\\\g<literal_quote>", identifier) + '"'
    return identifier


def a_list(leading_label: str | None = None, **named) -> str:
    """``label=... a=... b=...``: a label given apart first (an edge's), then the others sorted by name (as
    graphviz writes a dict of attributes)."""
    parts = [f"label={quote(leading_label)}"] if leading_label is not None else []
    parts += [f"{quote(name)}={quote(value)}" for name, value in sorted(named.items()) if value is not None]
    return " ".join(parts)


def attributes(leading_label: str | None = None, **named) -> str:
    """`` [...]`` after a node, an edge or ``graph``; nothing when there is no attribute."""
    listed = a_list(leading_label, **named)
    return f" [{listed}]" if listed else ""


def full_color(color: str) -> str:
    """#RGB as #RRGGBB, which Graphviz needs (render_dag's ``_refine_color``)."""
    if len(color) == 4 and color[0] == "#":
        return "#" + "".join(digit * 2 for digit in color[1:])
    return color


@dataclass
class Graph:
    """The DOT text of one graph or cluster, and the nodes and edges it holds (for ``data``)."""

    lines: list[str] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)

    def node(self, node_id: str, kind: str, group: str | None, label: str, **named) -> None:
        self.lines.append(f"\t{quote(node_id)}{attributes(label=label, **named)}\n")
        self.nodes.append({"id": node_id, "label": label, "kind": kind, "group": group})


def draw_task(task, graph: Graph, group: str | None) -> None:
    graph.node(
        task.task_id,
        "task",
        group,
        task.label,
        shape="rectangle",
        style="filled,rounded",
        color=full_color(task.ui_fgcolor),
        fillcolor=full_color(task.ui_color),
    )


def draw_join(task_group, join_id: str, graph: Graph) -> None:
    graph.node(
        join_id,
        "join",
        task_group.group_id,
        "",
        shape="circle",
        style="filled,rounded",
        color=full_color(task_group.ui_fgcolor),
        fillcolor=full_color(task_group.ui_color),
        width="0.2",
        height="0.2",
    )


def is_task_group(node) -> bool:
    return hasattr(node, "children")


def draw_group_content(task_group, graph: Graph) -> None:
    """A task group's join nodes, then its children in id order (render_dag's ``_draw_task_group``)."""
    if task_group.upstream_group_ids or task_group.upstream_task_ids:
        draw_join(task_group, task_group.upstream_join_id, graph)
    if task_group.downstream_group_ids or task_group.downstream_task_ids:
        draw_join(task_group, task_group.downstream_join_id, graph)
    for child in sorted(task_group.children.values(), key=lambda node: node.node_id or ""):
        draw_node(child, graph, task_group.group_id)


def draw_node(node, graph: Graph, group: str | None) -> None:
    """A task, or a task group: the root's content directly, another's in a cluster subgraph."""
    if not is_task_group(node):
        draw_task(node, graph, group)
    elif node.is_root:
        draw_group_content(node, graph)
    else:
        cluster = Graph(nodes=graph.nodes, edges=graph.edges)
        looks = a_list(
            shape="rectangle",
            style="filled",
            color=full_color(node.ui_fgcolor),
            fillcolor="#6495ed7f",
            label=node.label,
        )  # a partly transparent CornflowerBlue
        cluster.lines.append(f"\t{looks}\n")
        draw_group_content(node, cluster)
        graph.lines.append(f"\tsubgraph {quote('cluster_' + node.group_id)} {{\n")
        graph.lines += [f"\t{line}" for line in cluster.lines]
        graph.lines.append("\t}\n")


def dag_graph(dag) -> tuple[str, dict]:
    """The DOT text ``airflow dags show`` prints for ``dag`` (a serialized DAG), and ``{"nodes", "edges"}``."""
    from airflow.utils.dag_edges import dag_edges

    graph = Graph()
    draw_node(dag.task_group, graph, None)
    for edge in dag_edges(dag):
        source, target = edge["source_id"], edge["target_id"]
        label = dag.get_edge_info(source, target).get("label")
        graph.lines.append(f"\t{quote(source)} -> {quote(target)}{attributes(label)}\n")
        graph.edges.append({"source": source, "target": target, "label": label})
    head = f"digraph {quote(dag.dag_id)} {{\n\tgraph{attributes(label=dag.dag_id, labelloc='t', rankdir='LR')}\n"
    return head + "".join(graph.lines) + "}\n", {"nodes": graph.nodes, "edges": graph.edges}


def svg_of(dot_text: str) -> str:
    """The SVG picture Graphviz's ``dot`` draws of ``dot_text``: 409 when ``dot`` is not installed or fails."""
    executable = shutil.which("dot")
    if executable is None:
        raise Conflict(INSTALL_GRAPHVIZ)
    try:
        drawn = subprocess.run(
            [executable, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise Conflict(f"Graphviz's dot took more than {DOT_TIMEOUT} seconds to draw the graph.") from None
    except OSError as err:
        raise Conflict(f"Graphviz's dot could not be run ({err}). {INSTALL_GRAPHVIZ}") from None
    if drawn.returncode != 0:
        message = drawn.stderr.decode("utf-8", "replace").strip()[:1000]
        raise Conflict(f"Graphviz's dot failed (exit code {drawn.returncode}): {message}")
    return drawn.stdout.decode("utf-8")
