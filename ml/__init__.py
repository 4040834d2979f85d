"""Mining for CiRM Warehouse: citizen segments and demand forecasts (a plain library: no Dagster here).

Entry points: `ml.segmentation.segment_citizens`, `ml.forecasting.forecast_demand` and
`ml.artifacts.save_model_artifact`. Everything takes and returns pandas DataFrames so the
orchestration layer decides where frames come from and where they are written.
"""
