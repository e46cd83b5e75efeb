"""kpdemo: a browser-based facial-keypoint lab (datasets, schemas, models, trainers, app)."""
