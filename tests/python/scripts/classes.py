"""Exercises a class: its body, __init__, a method, a property with a setter, a __repr__."""


class Account:
    def __init__(self, owner, balance=0):
        self.owner = owner
        self._balance = balance

    @property
    def balance(self):
        return self._balance

    @balance.setter
    def balance(self, value):
        if value < 0:
            raise ValueError("negative balance")
        self._balance = value

    def deposit(self, amount):
        self.balance = self.balance + amount
        return self.balance

    def __repr__(self):
        return f"Account({self.owner!r}, {self._balance})"


acct = Account("ada")
acct.deposit(30)
print(acct, acct.balance)
