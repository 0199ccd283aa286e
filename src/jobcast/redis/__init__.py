"""Talking to Redis: one URL reading, a pipelined client for the hot path, redis-py pools."""

from .fast import FastRedis, Script
from .pool import REDIS_ERRORS, REDIS_FAULTS, connect
from .url import RedisTarget, parse_redis_url

__all__ = ["REDIS_ERRORS", "REDIS_FAULTS", "FastRedis", "RedisTarget", "Script", "connect",
           "parse_redis_url"]
