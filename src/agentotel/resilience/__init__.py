"""Resilience components that report through OpenTelemetry: cache, circuit breaker, load balancer, rate limiter."""
