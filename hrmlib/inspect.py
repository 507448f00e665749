"""Renamed: `hrmlib.inspect` is now `hrmlib.look.trace` (the old name shadowed the standard library)."""
raise ImportError("hrmlib.inspect is now hrmlib.look.trace: `from hrmlib.look import trace`, then trace.load(run), "
                  "trace.trace_examples(m), trace.trace_depth(m) (was inspect.depth_sweep)")
