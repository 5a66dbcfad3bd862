# Directives moved here from meetings: the models enter this app's state on the tables
# meetings created (meetings 0002); nothing in the database changes.

import diemcau.directives.models
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("meetings", "0003_directives_move_out"),
        ("orgs", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.CreateModel(
            name='Directive',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(blank=True, max_length=50, verbose_name='document number')),
                ('title', models.CharField(max_length=300, verbose_name='title')),
                ('body', models.TextField(blank=True, verbose_name='content')),
                ('file', models.FileField(blank=True, upload_to=diemcau.directives.models.directive_path, verbose_name='file')),
                ('original_name', models.CharField(blank=True, max_length=255)),
                ('issued_at', models.DateTimeField(verbose_name='issued at')),
                ('issued_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('meeting', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='directives', to='meetings.meeting', verbose_name='meeting')),
            ],
            options={
                'db_table': 'meetings_directive', 'verbose_name': 'directive',
                'verbose_name_plural': 'directives',
                'ordering': ['-issued_at'],
            },
        ),
        migrations.CreateModel(
            name='DirectiveRecipient',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('acknowledged_at', models.DateTimeField(blank=True, null=True, verbose_name='acknowledged at')),
                ('reminders', models.PositiveIntegerField(default=0, verbose_name='reminders')),
                ('reminded_at', models.DateTimeField(blank=True, null=True, verbose_name='last reminder')),
                ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('directive', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='recipients', to='directives.directive')),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='directives', to='orgs.site')),
            ],
            options={
                'db_table': 'meetings_directiverecipient', 'verbose_name': 'directive recipient',
                'verbose_name_plural': 'directive recipients',
                'ordering': ['site__code'],
                'constraints': [models.UniqueConstraint(fields=('directive', 'site'), name='one_recipient_per_site')],
            },
        ),
    ],
            database_operations=[],
        ),
    ]
