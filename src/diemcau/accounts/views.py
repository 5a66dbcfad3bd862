from __future__ import annotations

from django.contrib.auth import views as auth_views


class LoginView(auth_views.LoginView):
    # Locked logins are refused by django-axes' backend and shown by accounts/lockout.py.
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
