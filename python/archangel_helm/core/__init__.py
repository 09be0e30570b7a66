"""The render core: a chart on disk (`chart`), the helm binary (`helm`), `render` with its cache
(`render_cache`), the rendered objects (`manifest`) and the paths into them (`paths`), chart values as Helm
layers them (`values_layering`), helm's values-schema refusals read (`schema_refusals`), and the small pieces
everything shares: errors, YAML, quantities, label selectors, logging and output."""
