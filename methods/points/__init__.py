"""Point-cloud networks (Paper II, Point-TnT; spec dold_pointtnt.md §4): batched FPS / kNN ops,
the Point-TnT and naive-Transformer models, PointNet and DGCNN baselines, an analytic MAC
counter."""
