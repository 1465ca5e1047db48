"""Reference pipeline for multi-task camera physiology (BigSmall reproduction)."""
