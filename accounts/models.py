from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from tokens_admin.public_ids import insert_with_public_id


class AccountType(models.TextChoices):
    CLIENT = "Client"
    VENDOR = "Vendor"
    OPERATIONS = "Operations"


class AccountStatus(models.TextChoices):
    ACTIVE = "Active"
    DISABLED = "Disabled"


class Role(models.TextChoices):
    ADMINISTRATOR = "Administrator"
    MEMBER = "Member"


class Module(models.Model):
    """Platform reference data, seeded by a data migration with fixed ids; never edited."""

    public_id = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    code = models.SlugField(max_length=64, unique=True)
    account_types = models.JSONField(default=list)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    def applies_to(self, account_type: str) -> bool:
        return account_type in self.account_types


class Account(models.Model):
    public_id = models.CharField(max_length=13, unique=True, editable=False)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=AccountType.choices)
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    modules = models.ManyToManyField(Module, through="AccountModule", related_name="accounts")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    def insert(self) -> Account:
        return insert_with_public_id(self, prefix="ACC", groups=2)

    @property
    def is_operations(self) -> bool:
        return self.type == AccountType.OPERATIONS


class AccountModule(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    module = models.ForeignKey(Module, on_delete=models.PROTECT)
    enabled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "module"], name="account_module_unique")
        ]

    def __str__(self) -> str:
        return f"{self.module_id} for {self.account_id}"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, name: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), name=name, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        return insert_with_public_id(user, prefix="USR", groups=2)


class User(AbstractBaseUser):
    public_id = models.CharField(max_length=13, unique=True, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.role}"
