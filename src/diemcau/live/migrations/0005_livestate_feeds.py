from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("live", "0004_voting_codes_and_held_answers"),
    ]

    operations = [
        migrations.AddField(
            model_name="livestate",
            name="feeds",
            field=models.JSONField(default=dict),
        ),
    ]
