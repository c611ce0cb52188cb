"""The page's look: Gradio's Soft theme with text dark enough to read (WCAG AA contrast, checked by axe-core in the
browser tests), and the page's own stylesheet on top (``launch(css=...)``): cards, send-to rows, the header, and
the phone layout. Colours, radii and type sizes are the theme's CSS variables, so the page follows the theme (and
its dark mode); nothing here loads anything from elsewhere.
"""

import gradio as gr


def theme() -> gr.themes.Base:
    """Soft, with labels, accents, primary buttons and secondary text a shade darker: Soft's own indigo 500 on its
    indigo 100 badges (3.6:1), white on indigo 500 buttons (4.5:1) and grey 400 hints (2.5:1) are below the 4.5:1
    that small text needs."""
    return gr.themes.Soft().set(
        block_label_text_color="*primary_700",
        block_title_text_color="*primary_700",
        body_text_color_subdued="*neutral_600",
        color_accent="*primary_600",
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
    )


CSS = """
#fusion-title h1 { font-size: 1.75rem !important; margin: 0 !important; }
/* A row of a dropdown and buttons: the buttons keep their own height, level with the dropdown's field. */
.fusion-controls { align-items: flex-end; }
#fusion-intro p { margin: 0; font-size: var(--text-md); }
#fusion-banner p { font-size: var(--text-md); }
.fusion-banner {
  border-left: 4px solid var(--color-accent);
  border-radius: var(--block-radius);
  background: var(--block-background-fill);
  padding: 4px 12px;
}
.fusion-banner p { margin: 0; }

/* Send-to buttons: one compact row under the result, wrapping on a narrow screen. */
.fusion-send { gap: 8px; flex-wrap: wrap; }
.fusion-send button { flex: 1 1 140px; min-width: 0 !important; }

/* Cards: a few numbers, each with its unit and what it means. */
.fusion-card {
  border: 1px solid var(--border-color-primary);
  border-radius: var(--block-radius);
  background: var(--block-background-fill);
  padding: 12px 14px;
}
.fusion-card-title { font-weight: 600; margin: 0 0 4px; }
.fusion-card-lead { margin: 0 0 10px; }
.fusion-metrics {
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 8px;
  margin: 0;
}
.fusion-metric { border-radius: var(--radius-md); background: var(--background-fill-secondary); padding: 8px 10px; }
.fusion-metric dt { font-size: var(--text-sm); margin: 0; }
.fusion-metric dd { margin: 0; }
.fusion-metric .fusion-value {
  font-size: var(--text-xl);
  font-weight: 600;
  font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere;
}
.fusion-card-compact .fusion-metrics { grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); }
.fusion-card-compact .fusion-metric .fusion-value { font-size: var(--text-md); }
.fusion-metric .fusion-meaning { font-size: var(--text-sm); line-height: 1.35; margin-top: 4px; }
.fusion-palette { list-style: none; display: flex; flex-wrap: wrap; gap: 6px 14px; padding: 0; margin: 10px 0 0; }
.fusion-palette li, .fusion-mean-colour { display: flex; align-items: center; gap: 6px; font-size: var(--text-sm); }
.fusion-mean-colour { margin: 10px 0 0; }
.fusion-swatch {
  display: inline-block;
  flex: none;
  width: 1.3em;
  height: 1.3em;
  border-radius: 4px;
  border: 1px solid var(--border-color-primary);
}
.fusion-card-foot { font-size: var(--text-sm); margin: 10px 0 0; overflow-wrap: anywhere; }

/* A caption is the result: shown large. */
.fusion-caption textarea { font-size: var(--text-lg) !important; }
.fusion-subhead p { margin: 0; }

/* Phone: the header shrinks to the title, and nothing is wider than the screen. */
@media (max-width: 640px) {
  #fusion-title h1 { font-size: 1.35rem; }
  #fusion-intro { display: none; }
  .fusion-banner { font-size: var(--text-sm); }
  .gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
  .fusion-metrics { grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); }
}
/* Text to image on a phone: one result a row, each whole, in the page rather than in a box that scrolls. */
@media (max-width: 640px) {
  #generation-gallery, #generation-gallery .grid-wrap { height: auto !important; }
  #generation-gallery .grid-container { --grid-cols: 1 !important; }
}
"""
