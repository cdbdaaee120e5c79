"""Voilà's settings for the explorer app: what one visitor may cost the machine, and who may call it.

``python app/serve.py`` (``make app``) starts Voilà with ``--Voila.config_file_paths`` set to this
folder only, so no other ``voila.py`` is read; options given on its command line win over these.

* Every visitor gets a kernel of their own: about 0.9 GB resident after its first UnionCAM and
  1.0 GB after a session of a few images (tests/test_browser_explorer.py measures it, in
  outputs/screenshots/explorer_memory.json); about 0.57 GB of that is its own, the rest is library
  code shared by all kernels. At most ``MAX_KERNELS`` run at once: the next visitor gets "503: The
  explorer is busy: try again in a few minutes" until one ends.
* A kernel without activity for ``IDLE_TIMEOUT_S`` (no computation, no widget message) is shut
  down, checked every ``CULL_INTERVAL_S``, also while its tab is still open (``cull_connected``):
  kernels of closed or crashed tabs, of pages fetched without JavaScript (curl) and of forgotten
  tabs end. A visitor back after that reloads the page.
* Only the names this server is reached by are served: requests whose ``Host`` is not a loopback
  address or ``localhost`` get 403, so a page on another site whose name resolves to 127.0.0.1
  (DNS rebinding) cannot drive the app or its kernels.
* Websocket messages up to ``WEBSOCKET_MAX_MESSAGE_SIZE`` pass (tornado's default, 10 MiB, dropped
  larger photo uploads without a word); the app refuses uploads over
  ``unioncam_lite.apps.explore.explorer.MAX_UPLOAD_BYTES`` (50 MB) with an ``error:`` line.
"""
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer

MAX_KERNELS = 4
IDLE_TIMEOUT_S = 600
CULL_INTERVAL_S = 60
WEBSOCKET_MAX_MESSAGE_SIZE = 64 * 2**20


class LimitedKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager that starts no kernel while ``max_kernels`` run (HTTP 503 instead)."""

    max_kernels = Integer(MAX_KERNELS, config=True, help="the most kernels (visitors) at once")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starting = 0

    async def start_kernel(self, *args, **kwargs):
        """Start a kernel, or refuse with 503 when ``max_kernels`` run or are starting."""
        if len(self.list_kernel_ids()) + self._starting >= self.max_kernels:
            raise web.HTTPError(503, f"{self.max_kernels} kernels run, the limit (max_kernels)",
                                reason="The explorer is busy: try again in a few minutes")
        self._starting += 1
        try:
            return await super().start_kernel(*args, **kwargs)
        finally:
            self._starting -= 1


c = get_config()  # noqa: F821 (traitlets provides it)
c.VoilaConfiguration.multi_kernel_manager_class = LimitedKernelManager
c.MappingKernelManager.cull_idle_timeout = IDLE_TIMEOUT_S
c.MappingKernelManager.cull_interval = CULL_INTERVAL_S
c.MappingKernelManager.cull_connected = True
c.Voila.tornado_settings = {
    "allow_remote_access": False,          # check the Host header (Jupyter server's check_host) ...
    "local_hostnames": ["localhost"],      # ... against these names and loopback addresses
    "websocket_max_message_size": WEBSOCKET_MAX_MESSAGE_SIZE,
}
