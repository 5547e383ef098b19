"""Record shards: the files `dedup` reads records from and writes the kept ones back to.

A shard is one file in one format:

- `lines`: a record is a line (read by `corpora.lines`, its ending not part of its text);
- `file`: the whole file is one record;
- `jsonl`: a JSON object per line; the text is one field, or several joined with a newline;
- `csv` / `tsv`: a header row, then one record per row. CSV follows RFC 4180 quoting (a quoted
  field may hold the delimiter, `""` and line breaks, so a record may span several lines); TSV
  is one record per line with no quoting, as the corpus readers take it (`corpora/formats.py`);
- `parquet`: one record per row, read and written with pyarrow (the `[parquet]` extra, imported
  only when a Parquet shard is opened).

Every record keeps what is needed to write it back unchanged: its bytes as in the file (line
formats: the header is written first, then each kept record's bytes, so kept lines come out
byte-identical), or for Parquet its row, the kept rows being written with the shard's own schema.

A record that cannot be read (a line that is not JSON, no text field, a text that is not a string,
a CSV row with the wrong number of fields, a Parquet file without the column) stops the read with
one line `SHARD:RECORD: reason` (record numbers are 1-based within the shard; the header of a CSV
is not a record), or with on_bad="skip" comes out as a bad record (`Record.bad` says why), to be
written through unchanged and listed, never dropped.
"""

from siamese_text.corpora.record_readers import (PARQUET_BATCH, header_bytes, iter_records,  # noqa: F401
                                                 read_texts)
from siamese_text.corpora.record_writers import ReportWriter, ShardWriter  # noqa: F401
from siamese_text.corpora.shards import (BAD_CHOICES, DEFAULT_HINT, EXTENSIONS, RECORD_FORMATS,  # noqa: F401
                                         Format, Record, RecordSpec, Shard, check_spec, expand_paths, format_of)
