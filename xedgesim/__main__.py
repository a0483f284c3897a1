from xedgesim.cli import main

if __name__ == "__main__":  # not when a Dask LocalCluster's spawned worker imports it
    main()
