"""Analysis at a parameter point: NTK, Hessian, rank, embeddings, regimes, landscape."""
