# Directives became an app of their own (diemcau.directives); their tables stay as they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("meetings", "0002_directive_directiverecipient"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="DirectiveRecipient"),
                migrations.DeleteModel(name="Directive"),
            ],
            database_operations=[],
        ),
    ]
