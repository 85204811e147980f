"""The app's own code (not part of the pip library): loaded models per source, Gradio helpers, the private-mode
routes, the memory policy, one module per tab, and the page that assembles them. app.py launches it."""
