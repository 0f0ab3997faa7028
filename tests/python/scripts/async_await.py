"""Exercises async/await: `asyncio.run` of a coroutine gathering two that await a sleep."""

import asyncio


async def double(x):
    await asyncio.sleep(0)
    return x * 2


async def main():
    results = await asyncio.gather(double(1), double(2))
    total = sum(results)
    print("results", results, "total", total)
    return total


print("returned", asyncio.run(main()))
