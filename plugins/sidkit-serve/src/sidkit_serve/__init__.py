"""sidkit-serve: a run's model behind JSON over HTTP, requests micro-batched into the decoder.

``sidkit_serve.app.create_app(run)`` builds the Starlette application; importing this
package imports nothing heavy (the ``sidkit`` CLI loads the plugin on every command)."""
