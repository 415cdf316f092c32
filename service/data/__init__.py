"""The data layer: the SQL catalogue, the pool, deadlines, the breaker and the DAOs."""
