from __future__ import annotations

from django.contrib.auth import views as auth_views

from diemcau.accounts.forms import LockoutAuthenticationForm


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
