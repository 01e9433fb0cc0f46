"""The receiving endpoint: the aiohttp receiver that stores before it answers (``receiver``),
the serve loop and its output (``serve``), the window's control channel (``control``) and the
local CA (``tls``)."""
