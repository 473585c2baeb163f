# SPDX-License-Identifier: GPL-3.0-or-later
"""Many clips: a manifest of photo + speech lines run on Ray (``python -m talkface.batch``) or
submitted to a Flamenco render farm (``batch/flamenco/talkface.js``). A tool of the source tree,
not part of the extension zip; see README "Many clips"."""
