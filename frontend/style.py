"""The page's CSS: message colours, readable (not monospace) labels, the feedback table."""

CSS = """
#signed-in-as { align-self: center; }
#signed-in-as p { margin: 0; }
.status-error p { color: var(--error-text-color); font-weight: 600; }
.status-ok p { color: var(--color-accent); font-weight: 600; }
.status-info p { color: var(--body-text-color); font-weight: 600; }
#top5, #top5 * { font-family: var(--font); }
#demo-login p { color: var(--body-text-color-subdued); }
.feedback-list { overflow-x: auto; }
.feedback-list table { width: 100%; border-collapse: collapse; table-layout: auto; }
.feedback-list th, .feedback-list td {
  text-align: left; vertical-align: top; padding: 6px 8px;
  border-bottom: 1px solid var(--border-color-primary);
}
.feedback-list td.feedback { white-space: normal; overflow-wrap: anywhere; min-width: 12em; }
.feedback-list td.when, .feedback-list td.score { white-space: nowrap; }
.feedback-list img.thumb { width: 72px; height: 72px; object-fit: cover; border-radius: 6px; display: block; }
.feedback-list .file-name { overflow-wrap: anywhere; font-size: 0.85em; }
#history-gallery .fixed-height, #several-gallery .fixed-height { max-height: none; min-height: 0; }
#history-gallery .grid-wrap, #several-gallery .grid-wrap { overflow-y: visible; }
#history-gallery .caption-label, #several-gallery .caption-label {
  white-space: pre-line; overflow: visible; text-overflow: clip; max-width: none;
  left: var(--block-label-margin); opacity: 0.92; line-height: 1.3;
}
#answer.answer-sure p { font-size: 1.6em; font-weight: 600; margin: 0; }
#answer.answer-sure strong { font-weight: 700; }
#answer.answer-unsure {
  border-left: 4px solid var(--color-yellow-500, #eab308); padding: 4px 10px;
  background: var(--background-fill-secondary);
}
#answer.answer-unsure p { font-size: 1em; margin: 0; color: var(--body-text-color-subdued); }
#answer.answer-unsure strong { font-size: 1.3em; color: var(--body-text-color); }
.empty-hint { color: var(--body-text-color-subdued); padding: 12px 0; }
.evaluation { overflow-x: auto; }
.evaluation table { border-collapse: collapse; margin-bottom: 12px; }
.evaluation th, .evaluation td {
  text-align: left; vertical-align: top; padding: 6px 10px;
  border-bottom: 1px solid var(--border-color-primary);
}
.evaluation td ol { margin: 0; padding-left: 1.2em; }
.evaluation .routing { margin: 4px 0 10px; }
.accuracy-plot text { font-size: 12px; fill: var(--body-text-color); }
.accuracy-plot .grid { stroke: var(--border-color-primary); }
.accuracy-plot .interval { stroke: var(--body-text-color-subdued); stroke-width: 3; }
.accuracy-plot circle { fill: var(--body-text-color-subdued); }
.accuracy-plot .stable circle { fill: var(--color-accent); }
.accuracy-plot .canary circle { fill: #d97706; }
/* the two tables are shown by gr.Markdown (frontend.ui.html_block): its prose borders go, these stay */
#my-feedback .prose table, #evaluation .prose table { border: 0; }
#my-feedback .prose th, #my-feedback .prose td, #evaluation .prose th, #evaluation .prose td {
  border-width: 0 0 1px 0; border-style: solid; border-color: var(--border-color-primary);
}
"""
