"""The program report as one self-contained HTML file, its charts embedded as PNGs.

matplotlib (Agg backend) is imported lazily: only ``mentormatch report --html`` needs
it, so the server's install does not. Without it :class:`MissingPlotting` says how to
install it. Charts: the score histogram, the mentor load, optimal against greedy and
random, and success by score decile once outcomes exist.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any


class MissingPlotting(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingPlotting(
            "the HTML report needs matplotlib: pip install 'mentormatch[dev]' or matplotlib"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(plt: Any, draw: Any, title: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    draw(ax)
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any], *, title: str = "Program report") -> str:
    """The report (as :func:`api.services.reports.program_report` answers it) as HTML."""
    plt = _pyplot()
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>Generated {_fmt(report['generated_at'])}.</p>"]
    run, rate, scores = report["run"], report["match_rate"], report["scores"]
    parts.append("<h2>Match rate</h2>")
    parts.append(
        _table(
            ["", "mentees", "matched", "rate"],
            [
                ["latest run", rate["run_mentees"], rate["run_matched"], rate["run_rate"]],
                [
                    "published now",
                    rate["active_mentees"],
                    rate["published_mentees"],
                    rate["published_rate"],
                ],
            ],
        )
    )
    if run is None:
        parts.append("<p>No succeeded run yet.</p>")
    else:
        parts.append(
            f"<p>Latest run {_fmt(run['id'])} of {_fmt(run['finished_at'])}, objective "
            f"{_fmt(run['objective'])}, configuration version {_fmt(run['config_version'])}.</p>"
        )
        quality = report["quality"]
        parts.append("<h2>Quality against baselines</h2>")
        if quality["status"] == "computed":
            parts.append(f"<p><strong>{html.escape(quality['summary'])}</strong></p>")
            names = ["optimal", "greedy", "random"]
            parts.append(
                _table(
                    ["matching", "total", "mean", "minimum", "matched", "coverage"],
                    [
                        [
                            n,
                            *(
                                quality[n][k]
                                for k in ("total", "mean", "min", "matched", "coverage")
                            ),
                        ]
                        for n in names
                    ],
                )
            )

            def compare(ax: Any) -> None:
                ax.bar(names, [quality[n]["total"] for n in names], color=["#2a7", "#d84", "#888"])
                ax.set_ylabel("total score")

            parts.append(_png(plt, compare, "Optimal vs greedy vs random (total score)"))
        else:
            parts.append(f"<p>Baselines skipped: {html.escape(quality['reason'] or '')}.</p>")
        parts.append("<h2>Scores</h2>")
        parts.append(
            f"<p>{scores['pairs']} pairs, mean {_fmt(scores['mean'])}, "
            f"minimum {_fmt(scores['min'])}.</p>"
        )
        bins = scores["histogram"]

        def histogram(ax: Any) -> None:
            ax.bar([b["low"] for b in bins], [b["count"] for b in bins], width=0.095, align="edge")
            ax.set_xlabel("score")
            ax.set_ylabel("pairs")

        parts.append(_png(plt, histogram, "Score distribution"))
        parts.append("<h3>Lowest scores</h3>")
        parts.append(
            _table(
                ["mentee", "mentor", "score", "status"],
                [
                    [p["mentee"]["name"], p["mentor"]["name"], p["score"], p["status"]]
                    for p in scores["lowest"]
                ],
            )
        )
        parts.append("<h2>Unmatched by reason</h2>")
        unmatched = report["unmatched_by_reason"]
        parts.append(_table(["reason", "mentees"], [[k, v] for k, v in unmatched.items()]))
        loads = report["mentor_load"]
        parts.append("<h2>Mentor load</h2>")

        def load(ax: Any) -> None:
            ax.bar([str(x["pairs"]) for x in loads], [x["mentors"] for x in loads])
            ax.set_xlabel("mentees per mentor")
            ax.set_ylabel("mentors")

        parts.append(_png(plt, load, "Mentor load"))
        parts.append("<h2>Mentee load</h2>")
        parts.append(
            _table(
                ["mentors per mentee", "mentees"],
                [[x["pairs"], x["mentees"]] for x in report["mentee_load"]],
            )
        )
    outcomes = report["outcomes"]
    parts.append("<h2>Outcomes</h2>")
    if outcomes is None:
        parts.append("<p>No outcomes recorded yet.</p>")
    else:
        parts.append(
            f"<p>{outcomes['samples']} matches with outcomes: mean success "
            f"{_fmt(outcomes['mean_success'])}, early-end rate "
            f"{_fmt(outcomes['early_end_rate'])}.</p>"
        )
        deciles = outcomes["by_decile"]

        def decile(ax: Any) -> None:
            shown = [d for d in deciles if d["mean_success"] is not None]
            ax.bar(
                [d["low"] for d in shown],
                [d["mean_success"] for d in shown],
                width=0.095,
                align="edge",
            )
            ax.set_xlabel("score")
            ax.set_ylabel("mean success")
            ax.set_xlim(0, 1)

        parts.append(_png(plt, decile, "Success by score decile"))
        parts.append(
            _table(
                ["criterion", "samples", "correlation", "success at ≥ 0.5", "success below"],
                [
                    [
                        c["criterion"],
                        c["samples"],
                        c["correlation"],
                        c["mean_success_high"],
                        c["mean_success_low"],
                    ]
                    for c in outcomes["by_criterion"]
                ],
            )
        )
    style = (
        "body{font-family:sans-serif;max-width:56em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "th{background:#f3f3f3}img{display:block;margin:.5em 0}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
