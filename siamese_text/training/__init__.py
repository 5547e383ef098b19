"""Training, the [train] extra: losses, batches, Trainer, distillation, checkpoints, data-parallel.

Every module here needs torch; importing one without it raises MissingExtra ("training needs
torch: pip install 'siamese-text[train]'"), before any module's own `import torch` can fail.
"""

from siamese_text.extras import require

require("torch", "train")
