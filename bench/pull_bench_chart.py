"""The ratio chart of bench/pull-bench: for every link, one panel of costs (time, CPU,
upstream bytes, memory; below 1 regcache is better) and one of rates (requests per second;
above 1 regcache is better), each measurement a group of bars regcache ÷ direct, ÷ nginx,
÷ registry-proxy, on a log scale with a line at 1.

Needs matplotlib (Debian's python3-matplotlib, installed by `tools/install-deps bench`);
drawn with the Agg backend, so no display is needed.
"""

DENOMINATORS = [("direct", "regcache ÷ direct", "#4c72b0"),
                ("nginx", "regcache ÷ nginx", "#dd8452"),
                ("registry-proxy", "regcache ÷ distribution (registry-proxy)", "#55a868")]


def available():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def draw(path, links, title):
    """links: [(link name, [(label, kind "cost" or "rate", {denominator: ratio or None})])].
    Writes an SVG (or PNG, by path's extension) to path."""
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"     # text stays text: small, searchable
    import matplotlib.pyplot as plt

    # One row of panels per link: costs on the left, rates on the right.
    grid = [[(name, kind, [r for r in rows if r[1] == kind]) for kind in ("cost", "rate")]
            for name, rows in links]
    widths = [max(3, max(len(row[k][2]) for row in grid)) for k in (0, 1)]
    fig, axes = plt.subplots(len(grid), 2, figsize=(sum(widths) * 0.8 + 2, 5 * len(grid)),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    panels = [(ax, p) for axrow, row in zip(axes, grid) for ax, p in zip(axrow, row)]
    for ax, (name, kind, rows) in panels:
        if not rows:
            ax.set_visible(False)
            continue
        n = len(DENOMINATORS)
        width = 0.8 / n
        for i, (den, label, color) in enumerate(DENOMINATORS):
            xs, ys = [], []
            for j, (_label, _kind, ratios) in enumerate(rows):
                if ratios.get(den) is not None and ratios[den] > 0:
                    xs.append(j + (i - (n - 1) / 2) * width)
                    ys.append(ratios[den])
            if xs:
                ax.bar(xs, ys, width, label=label, color=color)
                for x, y in zip(xs, ys):
                    ax.annotate("%.0f" % y if y >= 10 else "%.2f" % y, (x, y), ha="center",
                                va="bottom", fontsize=6,
                                rotation=90, xytext=(0, 2), textcoords="offset points")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.5), max(hi, 2.0) * 2.5)     # room for the value labels
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r[0] for r in rows], rotation=40, ha="right", fontsize=7)
        ax.set_title("%s: %s" % (name, "costs, below 1 is better" if kind == "cost"
                                 else "request rates, above 1 is better"), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", which="both", linewidth=0.3, alpha=0.5)
    handles, labels = [], []
    for ax, _p in panels:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path)
    plt.close(fig)
    return path
