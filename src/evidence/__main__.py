from evidence.cli.commands import main

main()
