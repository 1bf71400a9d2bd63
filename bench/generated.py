"""Files made on the fly for hostile-input checks: nothing of them is on disk or in memory whole."""

import io


class Endless(io.RawIOBase):
    """A file made on the fly (nothing of it in memory): ``head`` then ``unit`` until ``size`` bytes."""

    def __init__(self, unit: bytes, size: int, head: bytes = b"") -> None:
        self.unit, self.size, self.head, self.given = unit, size, head, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.given)
        if count <= 0:
            return 0
        start = self.given - len(self.head)
        if start < 0:
            chunk = (self.head + self.unit * (count // len(self.unit) + 2))[self.given : self.given + count]
        else:
            offset = start % len(self.unit)
            chunk = (self.unit * (count // len(self.unit) + 2))[offset : offset + count]
        buffer[:count] = chunk
        self.given += count
        return count
