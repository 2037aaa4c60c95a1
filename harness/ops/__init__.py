"""What an op is. `catalog` holds one record per op (its stub signature, float64 reference, output
shape, FLOPs and bytes, argument draws, worked examples); `families` names the op families
without torch; `geometry` the output-length and window arithmetic; `draws` the argument draws by
region; `worked` the worked examples as data; `cases` the Case (one call described, no tensors).
Imports nothing else of the harness but `records`."""
from harness._old_paths import old_names

__getattr__ = old_names("harness.ops", "harness.ops.catalog")  # the 0.1.0 module's names
